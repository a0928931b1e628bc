#define _GNU_SOURCE
#include "bench_contract.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

static _Atomic int64_t *latencies;
static int latency_count;
static atomic_int failures;
static char first_error[512];
static pthread_mutex_t first_error_lock = PTHREAD_MUTEX_INITIALIZER;

static void usage(const char *problem, const char *what) {
    fprintf(stderr, "usage error: %s%s\n", problem, what ? what : "");
    exit(64);
}

static int number(const char *flag, const char *value) {
    char *end;
    long n = strtol(value, &end, 10);
    if (*value == '\0' || *end != '\0' || n < 0 || n > 1000000000) {
        usage("a number is needed after ", flag);
    }
    return (int)n;
}

static void read_body(const char *path, struct bench_args *args) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        usage("cannot open the body file ", path);
    }
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    args->body = malloc(len > 0 ? (size_t)len : 1);
    if (!args->body || fread(args->body, 1, (size_t)len, f) != (size_t)len) {
        usage("cannot read the body file ", path);
    }
    fclose(f);
    args->body_len = (int)len;
}

void bench_parse_args(int argc, char **argv, struct bench_args *args) {
    const char *body_file = NULL;
    memset(args, 0, sizeof *args);
    args->namesrv = getenv("NAMESRV_ADDR");
    args->mode = BENCH_SYNC;
    args->threads = 1;
    args->in_flight = 1;
    args->count = 10000;
    args->warmup = 200;
    for (int i = 1; i < argc; i++) {
        const char *flag = argv[i];
        if (strcmp(flag, "--compress") == 0) {
            args->compress = 1;
            continue;
        }
        if (strcmp(flag, "--auto-batch") == 0) {
            args->auto_batch = 1;
            continue;
        }
        if (i + 1 >= argc) {
            usage("a value is needed after ", flag);
        }
        const char *value = argv[++i];
        if (strcmp(flag, "--namesrv") == 0) {
            args->namesrv = value;
        } else if (strcmp(flag, "--topic") == 0) {
            args->topic = value;
        } else if (strcmp(flag, "--mode") == 0) {
            if (strcmp(value, "sync") == 0) {
                args->mode = BENCH_SYNC;
            } else if (strcmp(value, "async") == 0) {
                args->mode = BENCH_ASYNC;
            } else if (strcmp(value, "oneway") == 0) {
                args->mode = BENCH_ONEWAY;
            } else {
                usage("unknown mode ", value);
            }
        } else if (strcmp(flag, "--threads") == 0) {
            args->threads = number(flag, value);
        } else if (strcmp(flag, "--in-flight") == 0) {
            args->in_flight = number(flag, value);
        } else if (strcmp(flag, "--count") == 0) {
            args->count = number(flag, value);
        } else if (strcmp(flag, "--warmup") == 0) {
            args->warmup = number(flag, value);
        } else if (strcmp(flag, "--body-file") == 0) {
            body_file = value;
        } else {
            usage("unknown option ", flag);
        }
    }
    if (!args->namesrv || !args->topic || !body_file) {
        usage("--namesrv (or NAMESRV_ADDR), --topic and --body-file are required", NULL);
    }
    if (args->threads < 1) args->threads = 1;
    if (args->in_flight < 1) args->in_flight = 1;
    if (args->count < 1) args->count = 1;
    read_body(body_file, args);
}

int bench_share(const struct bench_args *args, int index) {
    return args->count / args->threads + (index < args->count % args->threads ? 1 : 0);
}

int64_t bench_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

double bench_cpu_seconds(void) {
    struct rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec +
           usage.ru_stime.tv_usec / 1e6;
}

void bench_fail(const char *text) {
    if (atomic_fetch_add(&failures, 1) == 0) {
        pthread_mutex_lock(&first_error_lock);
        snprintf(first_error, sizeof first_error, "%s", text ? text : "(no message)");
        pthread_mutex_unlock(&first_error_lock);
    }
}

void bench_latencies_init(int count) {
    latencies = calloc((size_t)count, sizeof *latencies);
    latency_count = count;
}

void bench_record(int index, int64_t nanos) {
    if (index >= 0 && index < latency_count) {
        atomic_store_explicit(&latencies[index], nanos, memory_order_relaxed);
    }
}

static int by_value(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static double percentile_ms(const int64_t *sorted, int n, double p) {
    int rank = (int)ceil(p * n);
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return sorted[rank - 1] / 1e6;
}

static void print_json_string(const char *text) {
    putchar('"');
    for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
        if (*c == '"' || *c == '\\') {
            printf("\\%c", *c);
        } else if (*c < 0x20) {
            printf("\\u%04x", *c);
        } else {
            putchar(*c);
        }
    }
    putchar('"');
}

void bench_report(const char *client, const char *version, const struct bench_args *args,
                  double elapsed_s, double cpu_s) {
    int n = latency_count;
    int64_t *sorted = malloc((size_t)n * sizeof *sorted);
    for (int i = 0; i < n; i++) {
        sorted[i] = atomic_load(&latencies[i]);
    }
    qsort(sorted, (size_t)n, sizeof *sorted, by_value);
    static const char *modes[] = {"sync", "async", "oneway"};
    int errors = atomic_load(&failures);
    int ok = args->count - errors;
    printf("{\"client\":");
    print_json_string(client);
    printf(",\"version\":");
    print_json_string(version);
    printf(",\"mode\":\"%s\",\"threads\":%d,\"in_flight\":%d,\"count\":%d,\"body\":%d,"
           "\"compress\":%s,\"ok\":%d,\"errors\":%d,\"first_error\":",
           modes[args->mode], args->threads, args->in_flight, args->count, args->body_len,
           args->compress ? "true" : "false", ok, errors);
    if (errors > 0) {
        print_json_string(first_error);
    } else {
        printf("null");
    }
    printf(",\"elapsed_s\":%.6f,\"msgs_per_s\":%.1f,\"p50_ms\":%.4f,\"p99_ms\":%.4f,"
           "\"p999_ms\":%.4f,\"max_ms\":%.4f,\"cpu_s\":%.4f}\n",
           elapsed_s, ok / elapsed_s, percentile_ms(sorted, n, 0.50), percentile_ms(sorted, n, 0.99),
           percentile_ms(sorted, n, 0.999), sorted[n - 1] / 1e6, cpu_s);
    fflush(stdout);
    free(sorted);
}
