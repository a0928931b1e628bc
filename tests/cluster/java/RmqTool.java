// Independent reader/sender for the test cluster, built only on the official Apache RocketMQ
// Java client and admin tools so that tests can check our client against the reference one.
// Started by `rmq-cluster` as: java -Drmq.tool.namesrv=HOST:PORT -cp <classes>:<lib>/* RmqTool <command> ...
// stdout carries JSON only (one object per line); errors are one line on stderr and a non-zero exit.
// The calls whose classes or signatures differ between client 4.9 and 5.x are in RmqCompat, one copy
// per major version (java/v4, java/v5); the launcher compiles this file with the matching one.

import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.Comparator;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

import org.apache.rocketmq.acl.common.AclClientRPCHook;
import org.apache.rocketmq.acl.common.SessionCredentials;
import org.apache.rocketmq.client.QueryResult;
import org.apache.rocketmq.client.consumer.DefaultMQPullConsumer;
import org.apache.rocketmq.client.consumer.DefaultMQPushConsumer;
import org.apache.rocketmq.client.consumer.listener.ConsumeConcurrentlyStatus;
import org.apache.rocketmq.client.consumer.listener.MessageListenerConcurrently;
import org.apache.rocketmq.client.consumer.PullResult;
import org.apache.rocketmq.client.consumer.PullStatus;
import org.apache.rocketmq.client.consumer.rebalance.AllocateMessageQueueAveragely;
import org.apache.rocketmq.client.exception.MQClientException;
import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.client.producer.selector.SelectMessageQueueByHash;
import org.apache.rocketmq.client.utils.MessageUtil;
import org.apache.rocketmq.common.consumer.ConsumeFromWhere;
import org.apache.rocketmq.common.message.Message;
import org.apache.rocketmq.common.message.MessageClientExt;
import org.apache.rocketmq.common.message.MessageClientIDSetter;
import org.apache.rocketmq.common.message.MessageConst;
import org.apache.rocketmq.common.message.MessageExt;
import org.apache.rocketmq.common.message.MessageQueue;
import org.apache.rocketmq.remoting.RPCHook;
import org.apache.rocketmq.tools.admin.DefaultMQAdminExt;

public final class RmqTool {
    private static final String USAGE = "usage: rmq-cluster read-topic TOPIC [--timeout-ms N] [--expect N]"
        + " | read-key TOPIC UNIQ_KEY [--timeout-ms N] | read-id OFFSET_MSG_ID [--topic T]"
        + " | send TOPIC BODY [--body-base64] [--tags T] [--keys K1,K2] [--prop k=v]... [--sharding-key K] [--group G] [--count N] [--linger-ms N]"
        + " | producers GROUP | reply-responder TOPIC [--count N] [--timeout-ms N] | id-time UNIQ_KEY";

    /** Exit code for "the thing asked for does not exist" (message, topic), distinct from other failures. */
    private static final int EXIT_NOT_FOUND = 2;
    private static final int EXIT_FAILURE = 1;
    private static final int EXIT_USAGE = 64;

    /** Properties the pull consumer adds to each message it returns; they are not part of the stored message. */
    private static final List<String> PULL_ADDED_PROPERTIES =
        Arrays.asList(MessageConst.PROPERTY_MIN_OFFSET, MessageConst.PROPERTY_MAX_OFFSET);

    /** The options and the number of positional arguments of each command (checked before anything runs). */
    private static final Map<String, List<String>> OPTIONS = new HashMap<>();
    private static final Map<String, Integer> POSITIONALS = new HashMap<>();

    static {
        POSITIONALS.put("read-topic", 1);
        POSITIONALS.put("read-key", 2);
        POSITIONALS.put("read-id", 1);
        POSITIONALS.put("send", 2);
        POSITIONALS.put("producers", 1);
        POSITIONALS.put("reply-responder", 1);
        POSITIONALS.put("id-time", 1);
        OPTIONS.put("read-topic", Arrays.asList("--timeout-ms", "--expect"));
        OPTIONS.put("read-key", Arrays.asList("--timeout-ms"));
        OPTIONS.put("read-id", Arrays.asList("--topic"));
        OPTIONS.put("send", Arrays.asList("--body-base64", "--tags", "--keys", "--prop", "--sharding-key",
            "--group", "--count", "--linger-ms"));
        OPTIONS.put("producers", Arrays.asList());
        OPTIONS.put("reply-responder", Arrays.asList("--count", "--timeout-ms"));
        OPTIONS.put("id-time", Arrays.asList());
    }

    private static final int PULL_BATCH = 32;
    private static final long CALL_TIMEOUT_MS = 5000;

    private static final class ToolError extends Exception {
        private static final long serialVersionUID = 1L;
        final int exitCode;

        ToolError(int exitCode, String message) {
            super(message);
            this.exitCode = exitCode;
        }
    }

    private RmqTool() {
    }

    public static void main(String[] args) {
        int code;
        try {
            run(args);
            code = 0;
        } catch (ToolError e) {
            System.err.println("rmq-cluster: error: " + e.getMessage());
            code = e.exitCode;
        } catch (Throwable e) {
            System.err.println("rmq-cluster: error: " + oneLine(e));
            code = EXIT_FAILURE;
        }
        System.out.flush();
        // Client threads (netty, schedulers) are not all daemons: leave without waiting for them.
        Runtime.getRuntime().halt(code);
    }

    private static void run(String[] args) throws Exception {
        if (args.length == 0) {
            throw new ToolError(EXIT_USAGE, USAGE);
        }
        List<String> allowed = OPTIONS.get(args[0]);
        if (allowed == null) {
            throw new ToolError(EXIT_USAGE, "unknown command '" + args[0] + "'; " + USAGE);
        }
        Args a = new Args(Arrays.copyOfRange(args, 1, args.length), allowed);
        if (a.positionalCount() > POSITIONALS.get(args[0])) {
            throw new ToolError(EXIT_USAGE, "too many arguments for " + args[0] + "; " + USAGE);
        }
        String namesrv = System.getProperty("rmq.tool.namesrv");
        if (namesrv == null || namesrv.isEmpty()) {
            throw new ToolError(EXIT_USAGE, "system property rmq.tool.namesrv (NameServer address) is not set");
        }
        switch (args[0]) {
            case "read-topic":
                readTopic(namesrv, a.positional(0, "TOPIC"), a.longOption("--timeout-ms", 30000),
                    a.longOption("--expect", -1));
                break;
            case "read-key":
                readKey(namesrv, a.positional(0, "TOPIC"), a.positional(1, "UNIQ_KEY"), a.longOption("--timeout-ms", 10000));
                break;
            case "read-id":
                readId(namesrv, a.positional(0, "OFFSET_MSG_ID"), a.option("--topic", null));
                break;
            case "send":
                send(namesrv, a);
                break;
            case "producers":
                producers(namesrv, a.positional(0, "GROUP"));
                break;
            case "reply-responder":
                replyResponder(namesrv, a.positional(0, "TOPIC"), a.longOption("--count", 1),
                    a.longOption("--timeout-ms", 60000));
                break;
            case "id-time":
                // The time the Java client reads in a UNIQ_KEY (local time zone), in epoch ms.
                System.out.println(MessageClientIDSetter.getNearlyTimeFromID(a.positional(0, "UNIQ_KEY")).getTime());
                break;
            default:
                throw new IllegalStateException("no handler for " + args[0]);
        }
    }

    // ---------------------------------------------------------------------------------------------
    // Commands

    /**
     * Prints every message stored in the topic (all queues of all brokers), pulling each queue from its
     * min offset up to the max offset seen at the time of the call. With expect > 0 it keeps polling
     * for new messages until at least that many were printed or the timeout passes.
     * The deprecated pull consumer is used on purpose: it reads exact offsets without rebalancing.
     */
    @SuppressWarnings("deprecation")
    private static void readTopic(String namesrv, String topic, long timeoutMs, long expect) throws Exception {
        DefaultMQPullConsumer consumer = startReader(namesrv);
        long deadline = System.currentTimeMillis() + timeoutMs;
        Map<MessageQueue, Long> next = new TreeMap<>(Comparator
            .comparing(MessageQueue::getBrokerName).thenComparingInt(MessageQueue::getQueueId));
        long printed = 0;
        while (true) {
            try {
                for (MessageQueue mq : consumer.fetchSubscribeMessageQueues(topic)) {
                    if (!next.containsKey(mq)) {
                        next.put(mq, firstOffset(consumer, mq));
                    }
                }
            } catch (Exception e) {
                if (expect <= 0 || System.currentTimeMillis() >= deadline) {
                    throw new ToolError(EXIT_NOT_FOUND, "cannot read topic " + topic + ": " + oneLine(e));
                }
            }
            for (Map.Entry<MessageQueue, Long> entry : next.entrySet()) {
                MessageQueue mq = entry.getKey();
                long offset = entry.getValue();
                long max = lastOffset(consumer, mq);
                while (offset < max) {
                    PullResult result = consumer.pull(mq, "*", offset, PULL_BATCH, CALL_TIMEOUT_MS);
                    if (result.getPullStatus() == PullStatus.FOUND) {
                        for (MessageExt msg : result.getMsgFoundList()) {
                            msg.getProperties().keySet().removeAll(PULL_ADDED_PROPERTIES);
                            System.out.println(messageJson(msg, mq.getBrokerName()));
                            printed++;
                        }
                    }
                    if (result.getNextBeginOffset() <= offset) {
                        break;
                    }
                    offset = result.getNextBeginOffset();
                }
                entry.setValue(offset);
            }
            System.out.flush();
            if (expect <= 0 || printed >= expect) {
                break;
            }
            if (System.currentTimeMillis() >= deadline) {
                throw new ToolError(EXIT_NOT_FOUND, "read " + printed + " message(s) from topic " + topic
                    + " but expected at least " + expect + " within " + timeoutMs + " ms");
            }
            Thread.sleep(200);
        }
        consumer.shutdown();
    }

    /**
     * The offset calls go to a group's master only; with the master down a slave still serves pulls,
     * so its queues are read from 0 until the slave has nothing more (a master/slave test reads the
     * slave's copy this way).
     */
    @SuppressWarnings("deprecation")
    private static long firstOffset(DefaultMQPullConsumer consumer, MessageQueue mq) throws Exception {
        try {
            return consumer.minOffset(mq);
        } catch (MQClientException e) {
            return 0;
        }
    }

    @SuppressWarnings("deprecation")
    private static long lastOffset(DefaultMQPullConsumer consumer, MessageQueue mq) throws Exception {
        try {
            return consumer.maxOffset(mq);
        } catch (MQClientException e) {
            return Long.MAX_VALUE;
        }
    }

    /** Looks a message up by its UNIQ_KEY (client message id) through the brokers' index. */
    private static void readKey(String namesrv, String topic, String uniqKey, long timeoutMs) throws Exception {
        DefaultMQAdminExt admin = startAdmin(namesrv);
        long deadline = System.currentTimeMillis() + timeoutMs;
        String lastError = "no message with that key";
        while (true) {
            try {
                QueryResult result = RmqCompat.queryByUniqKey(admin, topic, uniqKey, 32);
                for (MessageExt msg : result.getMessageList()) {
                    if (uniqKey.equals(msg.getProperty(MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX))) {
                        printStored(namesrv, msg, brokerNameOf(admin, msg));
                        admin.shutdown();
                        return;
                    }
                }
            } catch (Exception e) {
                lastError = oneLine(e);
            }
            // The broker builds its index asynchronously after the write: give it a moment.
            if (System.currentTimeMillis() >= deadline) {
                throw new ToolError(EXIT_NOT_FOUND, "message " + uniqKey + " not found in topic " + topic
                    + " (" + lastError + ")");
            }
            Thread.sleep(200);
        }
    }

    /** Reads a message straight from the commit log of the broker encoded in its offset message id. */
    private static void readId(String namesrv, String offsetMsgId, String topic) throws Exception {
        DefaultMQAdminExt admin = startAdmin(namesrv);
        MessageExt msg;
        try {
            msg = RmqCompat.viewMessage(admin, topic == null ? "" : topic, offsetMsgId);
        } catch (Exception e) {
            throw new ToolError(EXIT_NOT_FOUND, "message " + offsetMsgId + " not found: " + oneLine(e));
        }
        printStored(namesrv, msg, brokerNameOf(admin, msg));
        admin.shutdown();
    }

    /** Sends messages synchronously with the official producer and prints each SendResult. */
    private static void send(String namesrv, Args a) throws Exception {
        String topic = a.positional(0, "TOPIC");
        String bodyArg = a.positional(1, "BODY");
        byte[] body = a.flag("--body-base64")
            ? Base64.getDecoder().decode(bodyArg) : bodyArg.getBytes(StandardCharsets.UTF_8);
        String tags = a.option("--tags", null);
        String keys = a.option("--keys", null);
        Map<String, String> userProperties = new LinkedHashMap<>();
        for (String prop : a.options("--prop")) {
            int eq = prop.indexOf('=');
            if (eq <= 0) {
                throw new ToolError(EXIT_USAGE, "--prop expects key=value, got '" + prop + "'");
            }
            userProperties.put(prop.substring(0, eq), prop.substring(eq + 1));
        }
        String shardingKey = a.option("--sharding-key", null);
        long count = a.longOption("--count", 1);
        long lingerMs = a.longOption("--linger-ms", 0);

        DefaultMQProducer producer = new DefaultMQProducer(a.option("--group", "RMQ_CLUSTER_TOOL_PRODUCER"), rpcHook());
        configure(producer, namesrv);
        producer.setSendMsgTimeout((int) CALL_TIMEOUT_MS);
        producer.start();
        for (long i = 0; i < count; i++) {
            // A new Message each time: the producer keeps the UNIQ_KEY it set on a message object.
            Message msg = new Message(topic, body);
            if (tags != null) {
                msg.setTags(tags);
            }
            if (keys != null) {
                msg.setKeys(Arrays.asList(keys.split(",")));
            }
            userProperties.forEach(msg::putUserProperty);
            SendResult result = shardingKey == null
                ? producer.send(msg)
                : producer.send(msg, new SelectMessageQueueByHash(), shardingKey);
            System.out.println(new Json()
                .field("status", result.getSendStatus().name())
                .field("msgId", result.getMsgId())
                .field("offsetMsgId", result.getOffsetMsgId())
                .field("topic", result.getMessageQueue().getTopic())
                .field("brokerName", result.getMessageQueue().getBrokerName())
                .field("queueId", result.getMessageQueue().getQueueId())
                .field("queueOffset", result.getQueueOffset())
                .field("regionId", result.getRegionId())
                .field("transactionId", result.getTransactionId())
                .end());
        }
        System.out.flush();
        // Staying connected lets a test see this producer in `producers GROUP`.
        Thread.sleep(lingerMs);
        producer.shutdown();
    }

    /**
     * Answers request messages (sent with request()) on TOPIC the official way: a push consumer
     * (from the first offset, so requests sent while it starts are answered too) and
     * MessageUtil.createReplyMessage with body "reply:" + request body. Prints {"ready":true} once
     * consuming, then one line per reply; exits after COUNT replies, or fails after the timeout.
     */
    private static void replyResponder(String namesrv, String topic, long count, long timeoutMs) throws Exception {
        String suffix = Long.toString(System.nanoTime());
        DefaultMQProducer producer = new DefaultMQProducer("RMQ_CLUSTER_TOOL_REPLIER_" + suffix, rpcHook());
        configure(producer, namesrv);
        producer.setSendMsgTimeout((int) CALL_TIMEOUT_MS);
        producer.start();
        DefaultMQPushConsumer consumer = new DefaultMQPushConsumer("RMQ_CLUSTER_TOOL_RESPONDER_" + suffix, rpcHook(),
            new AllocateMessageQueueAveragely());
        configure(consumer, namesrv);
        consumer.setConsumeFromWhere(ConsumeFromWhere.CONSUME_FROM_FIRST_OFFSET);
        consumer.subscribe(topic, "*");
        CountDownLatch remaining = new CountDownLatch((int) count);
        consumer.registerMessageListener((MessageListenerConcurrently) (msgs, context) -> {
            for (MessageExt request : msgs) {
                try {
                    String body = new String(request.getBody(), StandardCharsets.UTF_8);
                    Message reply = MessageUtil.createReplyMessage(request,
                        ("reply:" + body).getBytes(StandardCharsets.UTF_8));
                    SendResult sent = producer.send(reply, CALL_TIMEOUT_MS);
                    synchronized (System.out) {
                        System.out.println(new Json()
                            .field("replied", request.getProperty(MessageConst.PROPERTY_CORRELATION_ID))
                            .field("requestBody", body)
                            .field("replyTo", request.getProperty(MessageConst.PROPERTY_MESSAGE_REPLY_TO_CLIENT))
                            .field("status", sent.getSendStatus().name())
                            .end());
                        System.out.flush();
                    }
                    remaining.countDown();
                } catch (Exception e) {
                    System.err.println("rmq-cluster: reply failed: " + oneLine(e));
                    return ConsumeConcurrentlyStatus.RECONSUME_LATER;
                }
            }
            return ConsumeConcurrentlyStatus.CONSUME_SUCCESS;
        });
        consumer.start();
        System.out.println(new Json().field("ready", true).end());
        System.out.flush();
        boolean done = remaining.await(timeoutMs, TimeUnit.MILLISECONDS);
        consumer.shutdown();
        producer.shutdown();
        if (!done) {
            throw new ToolError(EXIT_FAILURE, "replied to " + (count - remaining.getCount()) + " of " + count
                + " request(s) within " + timeoutMs + " ms");
        }
    }

    /** Prints the producer connections every broker master knows for the group. */
    private static void producers(String namesrv, String group) throws Exception {
        DefaultMQAdminExt admin = startAdmin(namesrv);
        StringBuilder connections = new StringBuilder("[");
        for (Map.Entry<String, Map<Long, String>> broker : RmqCompat.brokerAddrTable(admin).entrySet()) {
            String addr = broker.getValue().get(0L);
            if (addr == null) {
                continue;
            }
            for (RmqCompat.ProducerRow info : RmqCompat.producers(admin, addr, group)) {
                if (connections.length() > 1) {
                    connections.append(',');
                }
                connections.append(new Json()
                    .field("brokerName", broker.getKey())
                    .field("brokerAddr", addr)
                    .field("clientId", info.clientId)
                    .field("clientAddr", stripSlash(info.clientAddr))
                    .field("language", info.language)
                    .field("version", info.version)
                    .field("lastUpdateTimestamp", info.lastUpdateTimestamp)
                    .end());
            }
        }
        connections.append(']');
        System.out.println(new Json().field("group", group).raw("connections", connections.toString()).end());
        admin.shutdown();
    }

    // ---------------------------------------------------------------------------------------------
    // Helpers

    /**
     * A pull consumer that leaves bodies compressed: the client's own decompression also clears the
     * COMPRESSED flag from sysFlag, and tests need the flag as stored. messageJson decompresses.
     */
    @SuppressWarnings("deprecation")
    private static DefaultMQPullConsumer startReader(String namesrv) throws Exception {
        DefaultMQPullConsumer consumer = new DefaultMQPullConsumer("RMQ_CLUSTER_TOOL_READER", rpcHook());
        configure(consumer, namesrv);
        RmqCompat.keepBodiesCompressed(consumer);
        consumer.start();
        return consumer;
    }

    /**
     * Prints a message found through the admin API (which decompresses and clears the flag) as
     * stored, by pulling it again from its queue offset.
     */
    @SuppressWarnings("deprecation")
    private static void printStored(String namesrv, MessageExt found, String brokerName) throws Exception {
        DefaultMQPullConsumer consumer = startReader(namesrv);
        MessageQueue mq = new MessageQueue(found.getTopic(), brokerName, found.getQueueId());
        PullResult result = consumer.pull(mq, "*", found.getQueueOffset(), 1, CALL_TIMEOUT_MS);
        MessageExt stored = null;
        if (result.getPullStatus() == PullStatus.FOUND) {
            for (MessageExt msg : result.getMsgFoundList()) {
                if (msg.getCommitLogOffset() == found.getCommitLogOffset()) {
                    stored = msg;
                    stored.getProperties().keySet().removeAll(PULL_ADDED_PROPERTIES);
                }
            }
        }
        if (stored == null) {
            throw new ToolError(EXIT_FAILURE, "message at " + brokerName + " queue " + found.getQueueId()
                + " offset " + found.getQueueOffset() + " was found by the index but could not be pulled: "
                + result.getPullStatus());
        }
        System.out.println(messageJson(stored, brokerName));
        consumer.shutdown();
    }

    /**
     * Signs every request with RMQ_TOOL_ACCESS_KEY / RMQ_TOOL_SECRET_KEY when both are set (for
     * brokers with authentication on); null (no signing) otherwise.
     */
    private static RPCHook rpcHook() {
        String accessKey = System.getenv("RMQ_TOOL_ACCESS_KEY");
        String secretKey = System.getenv("RMQ_TOOL_SECRET_KEY");
        if (accessKey == null || accessKey.isEmpty() || secretKey == null || secretKey.isEmpty()) {
            return null;
        }
        return new AclClientRPCHook(new SessionCredentials(accessKey, secretKey));
    }

    private static void configure(org.apache.rocketmq.client.ClientConfig client, String namesrv) {
        client.setNamesrvAddr(namesrv);
        client.setInstanceName("rmq-cluster-tool-" + System.nanoTime());
        client.setVipChannelEnabled(false);
    }

    private static DefaultMQAdminExt startAdmin(String namesrv) throws Exception {
        DefaultMQAdminExt admin = new DefaultMQAdminExt(rpcHook(), CALL_TIMEOUT_MS);
        admin.setAdminExtGroup("RMQ_CLUSTER_TOOL_ADMIN");
        configure(admin, namesrv);
        admin.start();
        return admin;
    }

    /** Finds which broker stored a message from its store host (the broker's listen address). */
    private static String brokerNameOf(DefaultMQAdminExt admin, MessageExt msg) throws Exception {
        if (msg.getBrokerName() != null && !msg.getBrokerName().isEmpty()) {
            return msg.getBrokerName();
        }
        String storeHost = hostString(msg.getStoreHost());
        for (Map.Entry<String, Map<Long, String>> broker : RmqCompat.brokerAddrTable(admin).entrySet()) {
            if (broker.getValue().containsValue(storeHost)) {
                return broker.getKey();
            }
        }
        return null;
    }

    private static String messageJson(MessageExt msg, String brokerName) throws java.io.IOException {
        Map<String, String> properties = msg.getProperties() == null ? new HashMap<>() : msg.getProperties();
        Map<String, String> user = new TreeMap<>();
        for (Map.Entry<String, String> e : properties.entrySet()) {
            if (!MessageConst.STRING_HASH_SET.contains(e.getKey())) {
                user.put(e.getKey(), e.getValue());
            }
        }
        String offsetMsgId = msg instanceof MessageClientExt
            ? ((MessageClientExt) msg).getOffsetMsgId() : msg.getMsgId();
        byte[] body = RmqCompat.consumerBody(msg);
        return new Json()
            .field("msgId", msg.getProperty(MessageConst.PROPERTY_UNIQ_CLIENT_MESSAGE_ID_KEYIDX))
            .field("offsetMsgId", offsetMsgId)
            .field("topic", msg.getTopic())
            .field("brokerName", brokerName)
            .field("queueId", msg.getQueueId())
            .field("queueOffset", msg.getQueueOffset())
            .field("commitLogOffset", msg.getCommitLogOffset())
            .field("tags", msg.getTags())
            .field("keys", msg.getKeys())
            .raw("properties", Json.object(new TreeMap<>(properties)))
            .raw("userProperties", Json.object(user))
            .field("bodyBase64", Base64.getEncoder().encodeToString(body))
            .field("bodyLength", body.length)
            .field("sysFlag", msg.getSysFlag())
            .field("flag", msg.getFlag())
            .field("bornTimestamp", msg.getBornTimestamp())
            .field("storeTimestamp", msg.getStoreTimestamp())
            .field("bornHost", hostString(msg.getBornHost()))
            .field("storeHost", hostString(msg.getStoreHost()))
            .field("reconsumeTimes", msg.getReconsumeTimes())
            .field("storeSize", msg.getStoreSize())
            .end();
    }

    private static String hostString(SocketAddress address) {
        if (address instanceof InetSocketAddress) {
            InetSocketAddress inet = (InetSocketAddress) address;
            String host = inet.getAddress() != null ? inet.getAddress().getHostAddress() : inet.getHostString();
            return host + ":" + inet.getPort();
        }
        return address == null ? null : address.toString();
    }

    /** Netty renders remote addresses as "/ip:port". */
    private static String stripSlash(String address) {
        return address != null && address.startsWith("/") ? address.substring(1) : address;
    }

    private static String oneLine(Throwable e) {
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String text = e.getClass().getSimpleName() + ": " + firstLine(e.getMessage());
        if (root != e) {
            text += " (caused by " + root.getClass().getSimpleName() + ": " + firstLine(root.getMessage()) + ")";
        }
        return text;
    }

    /** The client's messages embed multi-line help text and URLs: the first line, without them. */
    private static String firstLine(String message) {
        return String.valueOf(message).replaceAll("\\s*\\n[\\s\\S]*$", "").replaceAll("\\s+See https?://\\S+.*$", "");
    }

    /** Minimal command-line parser: positional arguments plus --name [value] options. */
    private static final class Args {
        private static final List<String> FLAGS = Arrays.asList("--body-base64");
        private final List<String> positional = new ArrayList<>();
        private final Map<String, List<String>> options = new LinkedHashMap<>();

        Args(String[] args, List<String> allowed) throws ToolError {
            for (int i = 0; i < args.length; i++) {
                String arg = args[i];
                if (arg.startsWith("--") && arg.length() > 2) {
                    if (!allowed.contains(arg)) {
                        throw new ToolError(EXIT_USAGE, "unknown option " + arg + "; " + USAGE);
                    }
                    String value = "";
                    if (!FLAGS.contains(arg)) {
                        if (i + 1 >= args.length) {
                            throw new ToolError(EXIT_USAGE, "option " + arg + " needs a value");
                        }
                        value = args[++i];
                    }
                    options.computeIfAbsent(arg, k -> new ArrayList<>()).add(value);
                } else {
                    positional.add(arg);
                }
            }
        }

        String positional(int index, String name) throws ToolError {
            if (index >= positional.size()) {
                throw new ToolError(EXIT_USAGE, "missing argument " + name + "; " + USAGE);
            }
            return positional.get(index);
        }

        int positionalCount() {
            return positional.size();
        }

        String option(String name, String fallback) {
            List<String> values = options.get(name);
            return values == null ? fallback : values.get(values.size() - 1);
        }

        List<String> options(String name) {
            return options.getOrDefault(name, new ArrayList<>());
        }

        boolean flag(String name) {
            return options.containsKey(name);
        }

        long longOption(String name, long fallback) throws ToolError {
            String value = option(name, null);
            if (value == null) {
                return fallback;
            }
            try {
                return Long.parseLong(value);
            } catch (NumberFormatException e) {
                throw new ToolError(EXIT_USAGE, "option " + name + " expects a number, got '" + value + "'");
            }
        }
    }

    /** Builds one JSON object with fields in insertion order; null values are written as null. */
    private static final class Json {
        private final StringBuilder out = new StringBuilder("{");

        Json field(String name, Object value) {
            String encoded;
            if (value == null) {
                encoded = "null";
            } else if (value instanceof Number || value instanceof Boolean) {
                encoded = value.toString();
            } else {
                encoded = quote(value.toString());
            }
            return raw(name, encoded);
        }

        Json raw(String name, String encodedValue) {
            if (out.length() > 1) {
                out.append(',');
            }
            out.append(quote(name)).append(':').append(encodedValue);
            return this;
        }

        String end() {
            return out.append('}').toString();
        }

        static String object(Map<String, String> map) {
            Json j = new Json();
            for (Map.Entry<String, String> e : map.entrySet()) {
                j.field(e.getKey(), e.getValue());
            }
            return j.end();
        }

        static String quote(String s) {
            StringBuilder b = new StringBuilder(s.length() + 2).append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"':
                        b.append("\\\"");
                        break;
                    case '\\':
                        b.append("\\\\");
                        break;
                    case '\n':
                        b.append("\\n");
                        break;
                    case '\r':
                        b.append("\\r");
                        break;
                    case '\t':
                        b.append("\\t");
                        break;
                    default:
                        if (c < 0x20 || c == 0x2028 || c == 0x2029) {
                            b.append(String.format("\\u%04x", (int) c));
                        } else {
                            b.append(c);
                        }
                }
            }
            return b.append('"').toString();
        }
    }
}
