/* Ours through C: librmqproducer (rmq-ffi) under the bench contract (bench/README.md). */
#define _GNU_SOURCE
#include <pthread.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "bench_contract.h"
#include "rmqproducer.h"

static struct bench_args args;
static rmq_producer *producer;
static sem_t window;
static int64_t *async_began;

static void last_error(const char *what) {
    char message[480], text[600];
    rmq_last_error_message(message, sizeof message);
    snprintf(text, sizeof text, "%s: %s: %s", what, rmq_result_name(rmq_last_error_code()),
             message);
    bench_fail(text);
}

/* A message carrying the benchmark body; the library copies what it sends, so one message per
 * sender serves every send. */
static rmq_message *message(void) {
    rmq_message *msg = rmq_message_new();
    rmq_message_set_topic(msg, args.topic);
    rmq_message_set_body(msg, (const uint8_t *)args.body, (size_t)args.body_len);
    return msg;
}

static int send_sync(const rmq_message *msg) {
    rmq_send_result *result = NULL;
    rmq_result code = rmq_producer_send_sync(producer, msg, &result);
    if (code != RMQ_RESULT_OK) {
        last_error("send_sync");
        return code;
    }
    if (rmq_send_result_status(result) != RMQ_SEND_STATUS_SEND_OK) {
        bench_fail("send status is not SEND_OK");
    }
    rmq_send_result_free(result);
    return 0;
}

struct sender {
    int first, count;
};

static void *sync_sender(void *arg) {
    struct sender *s = arg;
    rmq_message *msg = message();
    for (int index = s->first; index < s->first + s->count; index++) {
        int64_t began = bench_now_ns();
        send_sync(msg);
        bench_record(index, bench_now_ns() - began);
    }
    rmq_message_free(msg);
    return NULL;
}

static void run_sync(void) {
    pthread_t *threads = calloc((size_t)args.threads, sizeof *threads);
    struct sender *senders = calloc((size_t)args.threads, sizeof *senders);
    int first = 0;
    for (int i = 0; i < args.threads; i++) {
        senders[i].first = first;
        senders[i].count = bench_share(&args, i);
        first += senders[i].count;
        pthread_create(&threads[i], NULL, sync_sender, &senders[i]);
    }
    for (int i = 0; i < args.threads; i++) {
        pthread_join(threads[i], NULL);
    }
    free(threads);
    free(senders);
}

static void delivered(void *userdata, rmq_result result, const rmq_send_result *send_result,
                      const rmq_error *error) {
    int slot = (int)(intptr_t)userdata;
    if (result != RMQ_RESULT_OK) {
        bench_fail(error ? rmq_error_message(error) : rmq_result_name(result));
    } else if (rmq_send_result_status(send_result) != RMQ_SEND_STATUS_SEND_OK) {
        bench_fail("send status is not SEND_OK");
    }
    bench_record(slot, bench_now_ns() - async_began[slot]);
    sem_post(&window);
}

static void run_async(void) {
    async_began = calloc((size_t)args.count, sizeof *async_began);
    sem_init(&window, 0, (unsigned)args.in_flight);
    rmq_message *msg = message();
    for (int index = 0; index < args.count; index++) {
        sem_wait(&window);
        async_began[index] = bench_now_ns();
        if (rmq_producer_send_async(producer, msg, delivered, (void *)(intptr_t)index) !=
            RMQ_RESULT_OK) {
            /* Refused at once: the callback will not run. */
            last_error("send_async");
            sem_post(&window);
        }
    }
    /* Every permit back means every callback ran. */
    for (int i = 0; i < args.in_flight; i++) {
        sem_wait(&window);
    }
    rmq_message_free(msg);
}

static void run_oneway(void) {
    rmq_message *msg = message();
    for (int index = 0; index < args.count; index++) {
        int64_t began = bench_now_ns();
        if (rmq_producer_send_oneway(producer, msg) != RMQ_RESULT_OK) {
            last_error("send_oneway");
        }
        bench_record(index, bench_now_ns() - began);
    }
    rmq_message_free(msg);
}

static void set(rmq_config *config, const char *key, const char *value) {
    char err[256];
    if (rmq_config_set(config, key, value, err, sizeof err) != RMQ_RESULT_OK) {
        fprintf(stderr, "ours-c: %s\n", err);
        exit(1);
    }
}

int main(int argc, char **argv) {
    bench_parse_args(argc, argv, &args);
    char group[64], number[32], err[256];
    snprintf(group, sizeof group, "bench_ours_c_%d", (int)getpid());
    rmq_config *config = rmq_config_new();
    set(config, "group", group);
    set(config, "namesrv_addr", args.namesrv);
    snprintf(number, sizeof number, "%d", args.compress ? BENCH_COMPRESS_THRESHOLD : INT32_MAX);
    set(config, "compress_threshold", number);
    set(config, "auto_batch", args.auto_batch ? "true" : "false");
    snprintf(number, sizeof number, "%d", BENCH_COMPRESS_LEVEL);
    set(config, "compress_level", number);
    if (rmq_producer_new(config, &producer, err, sizeof err) != RMQ_RESULT_OK) {
        fprintf(stderr, "ours-c: %s\n", err);
        return 1;
    }
    rmq_config_free(config);
    if (rmq_producer_start(producer) != RMQ_RESULT_OK) {
        char message_text[480];
        rmq_last_error_message(message_text, sizeof message_text);
        fprintf(stderr, "ours-c: start failed: %s\n", message_text);
        return 1;
    }
    rmq_message *warm = message();
    for (int i = 0; i < args.warmup; i++) {
        if (send_sync(warm) != 0) {
            fprintf(stderr, "ours-c: a warm-up send failed\n");
            return 1;
        }
    }
    rmq_message_free(warm);
    bench_latencies_init(args.count);

    double cpu_before = bench_cpu_seconds();
    int64_t began = bench_now_ns();
    switch (args.mode) {
    case BENCH_SYNC: run_sync(); break;
    case BENCH_ASYNC: run_async(); break;
    case BENCH_ONEWAY: run_oneway(); break;
    }
    double elapsed = (bench_now_ns() - began) / 1e9;
    double cpu = bench_cpu_seconds() - cpu_before;

    bench_report("ours-c", rmq_version(), &args, elapsed, cpu);
    rmq_producer_shutdown(producer);
    rmq_producer_free(producer);
    return 0;
}
