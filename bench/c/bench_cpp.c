/* The official C++ client (librocketmq.so from the PyPI wheel rocketmq==0.4.4) through its C
 * API, under the bench contract (bench/README.md). The wheel ships no headers: the prototypes
 * below are written from the C API's documented signatures (CProducer.h, CMessage.h). */
#define _GNU_SOURCE
#include <limits.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_contract.h"

/* ---- librocketmq C API (the subset used here) ---- */
typedef struct CProducer CProducer;
typedef struct CMessage CMessage;
typedef enum { E_SEND_OK = 0 } CSendStatus;
typedef struct {
    CSendStatus sendStatus;
    char msgId[256];
    long long offset;
} CSendResult;
typedef struct {
    int error;
    int line;
    char file[256];
    char msg[512];
    char type[128];
} CMQException;
typedef void (*CSendSuccessCallback)(CSendResult result);
typedef void (*CSendExceptionCallback)(CMQException e);
enum { E_LOG_LEVEL_ERROR = 2 };

CProducer *CreateProducer(const char *groupId);
int DestroyProducer(CProducer *producer);
int StartProducer(CProducer *producer);
int ShutdownProducer(CProducer *producer);
int SetProducerNameServerAddress(CProducer *producer, const char *namesrv);
int SetProducerInstanceName(CProducer *producer, const char *instanceName);
int SetProducerLogLevel(CProducer *producer, int level);
int SetProducerCompressLevel(CProducer *producer, int level);
int SetProducerCompressMsgBodyOverHowmuch(CProducer *producer, int howmuch);
int SetProducerMaxMessageSize(CProducer *producer, int size);
int SendMessageSync(CProducer *producer, CMessage *msg, CSendResult *result);
int SendMessageAsync(CProducer *producer, CMessage *msg, CSendSuccessCallback success,
                     CSendExceptionCallback failure);
int SendMessageOneway(CProducer *producer, CMessage *msg);
CMessage *CreateMessage(const char *topic);
int DestroyMessage(CMessage *msg);
int SetByteMessageBody(CMessage *msg, const char *body, int len);
const char *GetLatestErrorMessage(void);
/* ---- end of the C API ---- */

/* The async callbacks carry no user data and the client overwrites a message's UNIQ_KEY, so a
 * response cannot be tied to its request: the k-th completion is matched with the k-th send
 * (exact when responses come back in order; otherwise the latency distribution is smoothed). */
static struct bench_args args;
static CProducer *producer;
static sem_t window;
static int64_t *async_began;
static atomic_int completed;

static CMessage *message(void) {
    CMessage *msg = CreateMessage(args.topic);
    SetByteMessageBody(msg, args.body, args.body_len);
    return msg;
}

static void send_failed(int code) {
    char text[600];
    snprintf(text, sizeof text, "error %d: %s", code, GetLatestErrorMessage());
    bench_fail(text);
}

static int send_sync(void) {
    CSendResult result;
    CMessage *msg = message();
    int code = SendMessageSync(producer, msg, &result);
    DestroyMessage(msg);
    if (code != 0) {
        send_failed(code);
    } else if (result.sendStatus != E_SEND_OK) {
        bench_fail("send status is not SEND_OK");
    }
    return code;
}

struct sender {
    int first, count;
};

static void *sync_sender(void *arg) {
    struct sender *s = arg;
    for (int index = s->first; index < s->first + s->count; index++) {
        int64_t began = bench_now_ns();
        send_sync();
        bench_record(index, bench_now_ns() - began);
    }
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

static void complete(void) {
    int slot = atomic_fetch_add(&completed, 1);
    if (slot < args.count) {
        bench_record(slot, bench_now_ns() - async_began[slot]);
    }
    sem_post(&window);
}

static void on_success(CSendResult result) {
    if (result.sendStatus != E_SEND_OK) {
        bench_fail("send status is not SEND_OK");
    }
    complete();
}

static void on_exception(CMQException e) {
    e.msg[sizeof e.msg - 1] = '\0';
    bench_fail(e.msg);
    complete();
}

static void run_async(void) {
    async_began = calloc((size_t)args.count, sizeof *async_began);
    sem_init(&window, 0, (unsigned)args.in_flight);
    for (int index = 0; index < args.count; index++) {
        sem_wait(&window);
        CMessage *msg = message();
        async_began[index] = bench_now_ns();
        int code = SendMessageAsync(producer, msg, on_success, on_exception);
        DestroyMessage(msg);
        if (code != 0) {
            /* The client may also have called on_exception (a double notification); the window
             * is only given back once per message by the callbacks. */
            send_failed(code);
        }
    }
    /* Every permit back means every callback ran. */
    for (int i = 0; i < args.in_flight; i++) {
        sem_wait(&window);
    }
}

static void run_oneway(void) {
    for (int index = 0; index < args.count; index++) {
        int64_t began = bench_now_ns();
        CMessage *msg = message();
        int code = SendMessageOneway(producer, msg);
        DestroyMessage(msg);
        if (code != 0) {
            send_failed(code);
        }
        bench_record(index, bench_now_ns() - began);
    }
}

int main(int argc, char **argv) {
    bench_parse_args(argc, argv, &args);
    char group[64];
    snprintf(group, sizeof group, "bench_cpp_%d", (int)getpid());
    producer = CreateProducer(group);
    SetProducerNameServerAddress(producer, args.namesrv);
    SetProducerInstanceName(producer, group);
    SetProducerLogLevel(producer, E_LOG_LEVEL_ERROR);
    SetProducerMaxMessageSize(producer, 4 * 1024 * 1024);
    SetProducerCompressLevel(producer, BENCH_COMPRESS_LEVEL);
    SetProducerCompressMsgBodyOverHowmuch(producer,
                                          args.compress ? BENCH_COMPRESS_THRESHOLD : INT_MAX);
    if (StartProducer(producer) != 0) {
        fprintf(stderr, "cpp: start failed: %s\n", GetLatestErrorMessage());
        return 1;
    }
    for (int i = 0; i < args.warmup; i++) {
        if (send_sync() != 0) {
            fprintf(stderr, "cpp: warm-up send failed: %s\n", GetLatestErrorMessage());
            return 1;
        }
    }
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

    bench_report("cpp", "rocketmq-client-cpp (PyPI rocketmq 0.4.4 wheel)", &args, elapsed, cpu);
    ShutdownProducer(producer);
    DestroyProducer(producer);
    return 0;
}
