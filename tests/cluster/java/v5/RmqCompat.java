// The RocketMQ 5.x side of RmqTool's version shim (java/v4/RmqCompat.java is the 4.9 side; both have
// the same members). Compiled together with RmqTool.java when the cluster runs a 5.x version.

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import org.apache.rocketmq.client.QueryResult;
import org.apache.rocketmq.client.consumer.DefaultMQPullConsumer;
import org.apache.rocketmq.common.compression.CompressorFactory;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.sysflag.MessageSysFlag;
import org.apache.rocketmq.remoting.protocol.body.ProducerInfo;
import org.apache.rocketmq.remoting.protocol.body.ProducerTableInfo;
import org.apache.rocketmq.remoting.protocol.route.BrokerData;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;

final class RmqCompat {
    /** One producer connection as a broker reports it (lastUpdateTimestamp is null where unknown). */
    static final class ProducerRow {
        final String clientId;
        final String clientAddr;
        final String language;
        final int version;
        final Long lastUpdateTimestamp;

        ProducerRow(String clientId, String clientAddr, String language, int version, Long lastUpdateTimestamp) {
            this.clientId = clientId;
            this.clientAddr = clientAddr;
            this.language = language;
            this.version = version;
            this.lastUpdateTimestamp = lastUpdateTimestamp;
        }
    }

    private RmqCompat() {
    }

    /** Broker name -> (broker id -> address), sorted by name, as the NameServer knows them. */
    static Map<String, Map<Long, String>> brokerAddrTable(DefaultMQAdminExt admin) throws Exception {
        Map<String, Map<Long, String>> table = new TreeMap<>();
        for (BrokerData broker : admin.examineBrokerClusterInfo().getBrokerAddrTable().values()) {
            table.put(broker.getBrokerName(), broker.getBrokerAddrs());
        }
        return table;
    }

    static List<ProducerRow> producers(DefaultMQAdminExt admin, String brokerAddr, String group) throws Exception {
        List<ProducerRow> rows = new ArrayList<>();
        ProducerTableInfo table = admin.getAllProducerInfo(brokerAddr);
        List<ProducerInfo> infos = table.getData() == null ? null : table.getData().get(group);
        if (infos != null) {
            for (ProducerInfo info : infos) {
                rows.add(new ProducerRow(info.getClientId(), info.getRemoteIP(),
                    info.getLanguage() == null ? null : info.getLanguage().name(), info.getVersion(),
                    info.getLastUpdateTimestamp()));
            }
        }
        return rows;
    }

    static QueryResult queryByUniqKey(DefaultMQAdminExt admin, String topic, String uniqKey, int max)
        throws Exception {
        return admin.queryMessageByUniqKey(null, topic, uniqKey, max, 0, Long.MAX_VALUE);
    }

    static MessageExt viewMessage(DefaultMQAdminExt admin, String topic, String offsetMsgId) throws Exception {
        return admin.getDefaultMQAdminExtImpl().getMqClientInstance().getMQAdminImpl().viewMessage(topic, offsetMsgId);
    }

    /** The 5.x client's decompression also clears the COMPRESSED flag; tests need the flag as stored. */
    @SuppressWarnings("deprecation")
    static void keepBodiesCompressed(DefaultMQPullConsumer consumer) {
        consumer.setDecodeDecompressBody(false);
    }

    /** The body as the Java client hands it to a consumer (decompressed). */
    static byte[] consumerBody(MessageExt msg) throws java.io.IOException {
        byte[] body = msg.getBody() == null ? new byte[0] : msg.getBody();
        if ((msg.getSysFlag() & MessageSysFlag.COMPRESSED_FLAG) == 0) {
            return body;
        }
        return CompressorFactory.getCompressor(MessageSysFlag.getCompressionType(msg.getSysFlag())).decompress(body);
    }
}
