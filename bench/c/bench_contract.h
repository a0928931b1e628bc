/* The bench contract (bench/README.md) for C clients: the shared command line, one latency slot
 * per message, the process's CPU time, and the one-line JSON result. */
#ifndef BENCH_CONTRACT_H
#define BENCH_CONTRACT_H

#include <stddef.h>
#include <stdint.h>

enum bench_mode { BENCH_SYNC, BENCH_ASYNC, BENCH_ONEWAY };

#define BENCH_COMPRESS_THRESHOLD 4096
#define BENCH_COMPRESS_LEVEL 5

struct bench_args {
    const char *namesrv;
    const char *topic;
    enum bench_mode mode;
    int threads;   /* concurrent synchronous senders (sync mode only) */
    int in_flight; /* bound on async sends awaiting their response */
    int count;     /* messages in the measured window, over all threads */
    int warmup;    /* messages sent before the window opens */
    char *body;
    int body_len;
    int compress;  /* compress bodies >= 4 KiB at zlib level 5; else compression off */
    int auto_batch; /* gather sends into batch requests (auto_batch, Java's autoBatch) */
};

/* Parses argv; prints the problem and exits with 64 on bad usage. */
void bench_parse_args(int argc, char **argv, struct bench_args *args);

/* How many messages sender `index` sends (the shares add up to count). */
int bench_share(const struct bench_args *args, int index);

/* Monotonic time in nanoseconds. */
int64_t bench_now_ns(void);

/* User + system CPU seconds of this process so far. */
double bench_cpu_seconds(void);

/* Counts a failure; keeps the first one's text. Thread-safe. */
void bench_fail(const char *text);

/* Latency slots: allocate `count`, write each once from any thread. */
void bench_latencies_init(int count);
void bench_record(int index, int64_t nanos);

/* Prints the JSON result line for the measured window. */
void bench_report(const char *client, const char *version, const struct bench_args *args,
                  double elapsed_s, double cpu_s);

#endif
