// The RocketMQ 4.9 side of RmqTool's version shim (java/v5/RmqCompat.java is the 5.x side; both have
// the same members). 4.9 keeps the protocol classes under org.apache.rocketmq.common.protocol, has no
// per-broker producer table (only the connection list of one group) and always decompresses bodies.

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

import org.apache.rocketmq.client.QueryResult;
import org.apache.rocketmq.client.consumer.DefaultMQPullConsumer;
import org.apache.rocketmq.client.exception.MQBrokerException;
import org.apache.rocketmq.client.impl.MQClientManager;
import org.apache.rocketmq.client.impl.factory.MQClientInstance;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.protocol.body.Connection;
import org.apache.rocketmq.common.protocol.route.BrokerData;
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

    private static final long CALL_TIMEOUT_MS = 5000;

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

    /** 4.9 brokers report connections, not last-heartbeat times: lastUpdateTimestamp stays null. */
    static List<ProducerRow> producers(DefaultMQAdminExt admin, String brokerAddr, String group) throws Exception {
        List<ProducerRow> rows = new ArrayList<>();
        try {
            // The started admin's own client instance (4.9 has no getter for it; the manager keys by client id).
            MQClientInstance client = MQClientManager.getInstance().getOrCreateMQClientInstance(admin);
            for (Connection c : client.getMQClientAPIImpl()
                .getProducerConnectionList(brokerAddr, group, CALL_TIMEOUT_MS).getConnectionSet()) {
                rows.add(new ProducerRow(c.getClientId(), c.getClientAddr(),
                    c.getLanguage() == null ? null : c.getLanguage().name(), c.getVersion(), null));
            }
        } catch (MQBrokerException e) {
            // The broker answers "the producer group[...] not exist" when it has no connection of it.
        }
        return rows;
    }

    static QueryResult queryByUniqKey(DefaultMQAdminExt admin, String topic, String uniqKey, int max)
        throws Exception {
        return admin.queryMessageByUniqKey(topic, uniqKey, max, 0, Long.MAX_VALUE);
    }

    static MessageExt viewMessage(DefaultMQAdminExt admin, String topic, String offsetMsgId) throws Exception {
        return admin.viewMessage(offsetMsgId);
    }

    /** The 4.9 pull consumer always decompresses; there is nothing to switch off. */
    static void keepBodiesCompressed(DefaultMQPullConsumer consumer) {
    }

    /** The body as the Java client hands it to a consumer: the 4.9 client has decompressed it already. */
    static byte[] consumerBody(MessageExt msg) {
        return msg.getBody() == null ? new byte[0] : msg.getBody();
    }
}
