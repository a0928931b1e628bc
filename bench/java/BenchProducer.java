import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Semaphore;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.rocketmq.client.producer.DefaultMQProducer;
import org.apache.rocketmq.client.producer.SendCallback;
import org.apache.rocketmq.client.producer.SendResult;
import org.apache.rocketmq.common.MQVersion;
import org.apache.rocketmq.common.message.Message;

/**
 * The official Java client (DefaultMQProducer) under the bench contract (bench/README.md):
 * the same options and the same one-line JSON result as every other benchmark client.
 */
public final class BenchProducer {
    private static final int COMPRESS_THRESHOLD = 4096;
    private static final int COMPRESS_LEVEL = 5;

    private final DefaultMQProducer producer;
    private final String topic;
    private final byte[] body;
    private final long[] latencyNanos;
    private final AtomicInteger errors = new AtomicInteger();
    private final AtomicReference<String> firstError = new AtomicReference<>();

    private BenchProducer(DefaultMQProducer producer, String topic, byte[] body, int count) {
        this.producer = producer;
        this.topic = topic;
        this.body = body;
        this.latencyNanos = new long[count];
    }

    private Message message() {
        return new Message(topic, body);
    }

    private void fail(Throwable error) {
        if (errors.getAndIncrement() == 0) {
            firstError.compareAndSet(null, String.valueOf(error));
        }
    }

    private void syncSender(int first, int count) {
        for (int index = first; index < first + count; index++) {
            long began = System.nanoTime();
            try {
                producer.send(message());
            } catch (Exception e) {
                fail(e);
            }
            latencyNanos[index] = System.nanoTime() - began;
        }
    }

    private void runSync(Args args) throws InterruptedException {
        List<Thread> senders = new ArrayList<>();
        int first = 0;
        for (int thread = 0; thread < args.threads; thread++) {
            final int from = first;
            final int count = args.share(thread);
            Thread sender = new Thread(() -> syncSender(from, count), "bench-sender-" + thread);
            senders.add(sender);
            sender.start();
            first += count;
        }
        for (Thread sender : senders) {
            sender.join();
        }
    }

    private void runAsync(Args args) throws InterruptedException {
        Semaphore window = new Semaphore(args.inFlight);
        for (int index = 0; index < args.count; index++) {
            window.acquire();
            final int slot = index;
            final long began = System.nanoTime();
            try {
                producer.send(message(), new SendCallback() {
                    @Override
                    public void onSuccess(SendResult result) {
                        latencyNanos[slot] = System.nanoTime() - began;
                        window.release();
                    }

                    @Override
                    public void onException(Throwable e) {
                        fail(e);
                        latencyNanos[slot] = System.nanoTime() - began;
                        window.release();
                    }
                });
            } catch (Exception e) {
                fail(e);
                latencyNanos[slot] = System.nanoTime() - began;
                window.release();
            }
        }
        // Every permit back means every callback ran.
        window.acquire(args.inFlight);
    }

    private void runOneway(Args args) {
        for (int index = 0; index < args.count; index++) {
            long began = System.nanoTime();
            try {
                producer.sendOneway(message());
            } catch (Exception e) {
                fail(e);
            }
            latencyNanos[index] = System.nanoTime() - began;
        }
    }

    private static double cpuSeconds() {
        return ((com.sun.management.OperatingSystemMXBean) ManagementFactory.getOperatingSystemMXBean())
            .getProcessCpuTime() / 1e9;
    }

    private static double percentile(double[] sorted, double p) {
        int rank = (int) Math.ceil(p * sorted.length);
        return sorted[Math.min(Math.max(rank, 1), sorted.length) - 1];
    }

    private static String jsonString(String text) {
        if (text == null) {
            return "null";
        }
        StringBuilder out = new StringBuilder("\"");
        for (char c : text.toCharArray()) {
            if (c == '"' || c == '\\') {
                out.append('\\').append(c);
            } else if (c < 0x20) {
                out.append(String.format("\\u%04x", (int) c));
            } else {
                out.append(c);
            }
        }
        return out.append('"').toString();
    }

    public static void main(String[] argv) throws Exception {
        Args args = Args.parse(argv);
        long pid = ProcessHandle.current().pid();
        DefaultMQProducer producer = new DefaultMQProducer("bench_java_" + pid);
        producer.setNamesrvAddr(args.namesrv);
        producer.setInstanceName("bench_java_" + pid);
        producer.setCompressMsgBodyOverHowmuch(args.compress ? COMPRESS_THRESHOLD : Integer.MAX_VALUE);
        producer.setCompressLevel(COMPRESS_LEVEL);
        producer.setAutoBatch(args.autoBatch);
        producer.start();

        BenchProducer bench = new BenchProducer(producer, args.topic, args.body, args.count);
        for (int i = 0; i < args.warmup; i++) {
            producer.send(bench.message());
        }

        double cpuBefore = cpuSeconds();
        long began = System.nanoTime();
        switch (args.mode) {
            case "sync":
                bench.runSync(args);
                break;
            case "async":
                bench.runAsync(args);
                break;
            default:
                bench.runOneway(args);
        }
        double elapsed = (System.nanoTime() - began) / 1e9;
        double cpu = cpuSeconds() - cpuBefore;
        producer.shutdown();

        double[] millis = Arrays.stream(bench.latencyNanos).sorted().mapToDouble(n -> n / 1e6).toArray();
        int errors = bench.errors.get();
        int ok = args.count - errors;
        System.out.println(String.format(Locale.ROOT,
            "{\"client\":\"java\",\"version\":%s,\"mode\":\"%s\",\"threads\":%d,\"in_flight\":%d,"
                + "\"count\":%d,\"body\":%d,\"compress\":%b,\"ok\":%d,\"errors\":%d,\"first_error\":%s,"
                + "\"elapsed_s\":%.6f,\"msgs_per_s\":%.1f,\"p50_ms\":%.4f,\"p99_ms\":%.4f,"
                + "\"p999_ms\":%.4f,\"max_ms\":%.4f,\"cpu_s\":%.4f}",
            jsonString(MQVersion.getVersionDesc(MQVersion.CURRENT_VERSION)), args.mode, args.threads,
            args.inFlight, args.count, args.body.length, args.compress, ok, errors,
            jsonString(bench.firstError.get()), elapsed, ok / elapsed, percentile(millis, 0.50),
            percentile(millis, 0.99), percentile(millis, 0.999), millis[millis.length - 1], cpu));
        System.exit(0);
    }

    /** The shared command line (see bench/README.md). */
    private static final class Args {
        String namesrv = System.getenv("NAMESRV_ADDR");
        String topic;
        String mode = "sync";
        int threads = 1;
        int inFlight = 1;
        int count = 10_000;
        int warmup = 200;
        byte[] body;
        boolean compress;
        boolean autoBatch;

        int share(int index) {
            return count / threads + (index < count % threads ? 1 : 0);
        }

        static Args parse(String[] argv) throws Exception {
            Args args = new Args();
            for (int i = 0; i < argv.length; i++) {
                String flag = argv[i];
                if (flag.equals("--compress")) {
                    args.compress = true;
                    continue;
                }
                if (flag.equals("--auto-batch")) {
                    args.autoBatch = true;
                    continue;
                }
                if (i + 1 >= argv.length) {
                    usage(flag + " needs a value");
                }
                String value = argv[++i];
                switch (flag) {
                    case "--namesrv": args.namesrv = value; break;
                    case "--topic": args.topic = value; break;
                    case "--mode":
                        if (!Arrays.asList("sync", "async", "oneway").contains(value)) {
                            usage("unknown mode " + value);
                        }
                        args.mode = value;
                        break;
                    case "--threads": args.threads = Math.max(1, Integer.parseInt(value)); break;
                    case "--in-flight": args.inFlight = Math.max(1, Integer.parseInt(value)); break;
                    case "--count": args.count = Math.max(1, Integer.parseInt(value)); break;
                    case "--warmup": args.warmup = Integer.parseInt(value); break;
                    case "--body-file": args.body = Files.readAllBytes(Paths.get(value)); break;
                    default: usage("unknown option " + flag);
                }
            }
            if (args.namesrv == null || args.topic == null || args.body == null) {
                usage("--namesrv (or NAMESRV_ADDR), --topic and --body-file are required");
            }
            return args;
        }

        private static void usage(String problem) {
            System.err.println("usage error: " + problem);
            System.exit(64);
        }
    }
}
