"""Ours through Python (the rmqproducer wheel) under the bench contract (bench/README.md).

Sync senders are OS threads (`send` releases the GIL while it waits); async sends use
`send_callback` bounded by a semaphore; oneway sends loop on `send_oneway`.
"""

import argparse
import json
import math
import os
import threading
import time

import rmqproducer

COMPRESS_THRESHOLD = 4096
COMPRESS_LEVEL = 5


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--namesrv", default=os.environ.get("NAMESRV_ADDR"))
    parser.add_argument("--topic", required=True)
    parser.add_argument("--mode", choices=("sync", "async", "oneway"), default="sync")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--in-flight", type=int, default=1)
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--warmup", type=int, default=200)
    parser.add_argument("--body-file", required=True)
    parser.add_argument("--compress", action="store_true")
    parser.add_argument("--auto-batch", action="store_true")
    args = parser.parse_args()
    if not args.namesrv:
        parser.error("--namesrv or NAMESRV_ADDR is required")
    args.threads, args.in_flight = max(1, args.threads), max(1, args.in_flight)
    with open(args.body_file, "rb") as f:
        args.body = f.read()
    return args


class Bench:
    def __init__(self, producer, args):
        self.producer = producer
        self.args = args
        self.latencies = [0] * args.count
        self.errors = 0
        self.first_error = None
        self.lock = threading.Lock()

    def message(self):
        return rmqproducer.Message(self.args.topic, self.args.body)

    def fail(self, error):
        with self.lock:
            self.errors += 1
            if self.first_error is None:
                self.first_error = repr(error)

    def sync_sender(self, first, count):
        for index in range(first, first + count):
            began = time.perf_counter_ns()
            try:
                self.producer.send(self.message())
            except rmqproducer.RmqError as e:
                self.fail(e)
            self.latencies[index] = time.perf_counter_ns() - began

    def run_sync(self):
        args, first, threads = self.args, 0, []
        for i in range(args.threads):
            count = args.count // args.threads + (1 if i < args.count % args.threads else 0)
            threads.append(threading.Thread(target=self.sync_sender, args=(first, count)))
            first += count
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    def run_async(self):
        window = threading.Semaphore(self.args.in_flight)
        began = [0] * self.args.count

        def delivered(index):
            def callback(result, error):
                if error is not None:
                    self.fail(error)
                self.latencies[index] = time.perf_counter_ns() - began[index]
                window.release()

            return callback

        for index in range(self.args.count):
            window.acquire()
            began[index] = time.perf_counter_ns()
            try:
                self.producer.send_callback(self.message(), delivered(index))
            except rmqproducer.RmqError as e:
                self.fail(e)
                window.release()
        # Every permit back means every callback ran.
        for _ in range(self.args.in_flight):
            window.acquire()

    def run_oneway(self):
        for index in range(self.args.count):
            began = time.perf_counter_ns()
            try:
                self.producer.send_oneway(self.message())
            except rmqproducer.RmqError as e:
                self.fail(e)
            self.latencies[index] = time.perf_counter_ns() - began


def percentile(sorted_ms, p):
    rank = math.ceil(p * len(sorted_ms))
    return sorted_ms[min(max(rank, 1), len(sorted_ms)) - 1]


def main():
    args = parse_args()
    producer = rmqproducer.Producer(
        f"bench_ours_python_{os.getpid()}",
        namesrv=args.namesrv,
        compress_threshold=COMPRESS_THRESHOLD if args.compress else 2**31 - 1,
        compress_level=COMPRESS_LEVEL,
        auto_batch=args.auto_batch,
    )
    producer.start()
    bench = Bench(producer, args)
    for _ in range(args.warmup):
        producer.send(bench.message())

    cpu_before = time.process_time()
    began = time.perf_counter()
    {"sync": bench.run_sync, "async": bench.run_async, "oneway": bench.run_oneway}[args.mode]()
    elapsed = time.perf_counter() - began
    cpu = time.process_time() - cpu_before
    producer.shutdown()

    millis = sorted(n / 1e6 for n in bench.latencies)
    ok = args.count - bench.errors
    print(json.dumps({
        "client": "ours-python", "version": rmqproducer.__version__, "mode": args.mode,
        "threads": args.threads, "in_flight": args.in_flight, "count": args.count,
        "body": len(args.body), "compress": args.compress, "ok": ok, "errors": bench.errors,
        "first_error": bench.first_error, "elapsed_s": round(elapsed, 6),
        "msgs_per_s": round(ok / elapsed, 1), "p50_ms": percentile(millis, 0.50),
        "p99_ms": percentile(millis, 0.99), "p999_ms": percentile(millis, 0.999),
        "max_ms": millis[-1], "cpu_s": round(cpu, 4),
    }), flush=True)


if __name__ == "__main__":
    main()
