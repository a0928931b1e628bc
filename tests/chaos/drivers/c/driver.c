/*
 * Chaos workload driver for the C API (contract: tests/chaos/README.md, "The drivers").
 *
 *   driver NAMESRV_ADDR TOPIC GROUP HISTORY_FILE RATE
 *
 * Sends sync (two threads), async (rmq_producer_send_async, up to 200 in flight), oneway and
 * batches of four, paced at about RATE messages/s in total, until `stop` or EOF on stdin.
 *
 * Build from the repository root, after `make ffi` (which stages the library in build/ffi/lib):
 *   cc -std=c11 -Wall -Wextra -O1 -pthread tests/chaos/drivers/c/driver.c -I include \
 *     -L build/ffi/lib -lrmqproducer -Wl,-rpath,$PWD/build/ffi/lib -o build/chaos/driver-c
 */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "rmqproducer.h"

#define LANG "c"
#define MAX_ASYNC_IN_FLIGHT 200
#define BATCH_SIZE 4
#define ANSWER_WAIT_MS 60000
#define LINE_MAX_LEN 4096

static rmq_producer *producer;
static const char *topic;
static atomic_bool stopping;

static FILE *history;
static bool history_closed;
static pthread_mutex_t history_mu = PTHREAD_MUTEX_INITIALIZER;

enum op { SYNC, ASYNC, ONEWAY, BATCH, OPS };
static const char *const op_names[OPS] = {"sync", "async", "oneway", "batch"};

/* Calls made and which of them were answered (a call answered twice still counts once). */
static pthread_mutex_t state_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t state_cv = PTHREAD_COND_INITIALIZER;
static long calls_made, unanswered, async_in_flight;
static long last_seq[OPS]; /* message ids count from 1 per op, as the Rust driver's do */
static unsigned char *answered;
static size_t answered_cap;

static int64_t clock_ms(clockid_t clock) {
  struct timespec ts;
  clock_gettime(clock, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
  nanosleep(&ts, NULL);
}

/* Writes src as the inside of a JSON string, cut short (at a UTF-8 boundary) to fit len. */
static void json_escape(char *dst, size_t len, const char *src) {
  size_t n = 0;
  const unsigned char *s = (const unsigned char *)(src ? src : "");
  for (; *s && n + 7 < len; s++) {
    if (*s == '"' || *s == '\\') {
      dst[n++] = '\\';
      dst[n++] = (char)*s;
    } else if (*s < 0x20) {
      n += (size_t)snprintf(dst + n, len - n, "\\u%04x", *s);
    } else {
      dst[n++] = (char)*s;
    }
  }
  if (*s) { /* cut short: drop a multi-byte character that may be incomplete */
    while (n > 0 && ((unsigned char)dst[n - 1] & 0xC0) == 0x80) n--;
    if (n > 0 && ((unsigned char)dst[n - 1] & 0xC0) == 0xC0) n--;
  }
  dst[n] = '\0';
}

/* Appends {"ev":ev,"t":now<rest>} as one whole line, flushed at once; nothing after `end`. */
static void record(const char *ev, const char *rest) {
  char line[LINE_MAX_LEN + 128];
  snprintf(line, sizeof line, "{\"ev\":\"%s\",\"t\":%lld%s}\n", ev,
           (long long)clock_ms(CLOCK_REALTIME), rest);
  pthread_mutex_lock(&history_mu);
  if (!history_closed) {
    fputs(line, history);
    fflush(history);
    if (strcmp(ev, "end") == 0) {
      fclose(history);
      history_closed = true;
    }
  }
  pthread_mutex_unlock(&history_mu);
}

/* Registers a call of `count` messages, records it, and fills msgs (the caller frees them). */
static long new_call(enum op op, int count, rmq_message **msgs) {
  pthread_mutex_lock(&state_mu);
  long call = calls_made++, first = last_seq[op] + 1;
  last_seq[op] += count;
  unanswered++;
  if ((size_t)call >= answered_cap) {
    size_t cap = answered_cap ? answered_cap * 2 : 4096;
    answered = realloc(answered, cap);
    if (answered == NULL) abort();
    memset(answered + answered_cap, 0, cap - answered_cap);
    answered_cap = cap;
  }
  pthread_mutex_unlock(&state_mu);

  char rest[LINE_MAX_LEN], id[64];
  int n = snprintf(rest, sizeof rest, ",\"call\":%ld,\"op\":\"%s\",\"ids\":[", call, op_names[op]);
  for (int i = 0; i < count; i++) {
    snprintf(id, sizeof id, LANG "-%s-%ld", op_names[op], first + i);
    n += snprintf(rest + n, sizeof rest - (size_t)n, "%s\"%s\"", i ? "," : "", id);
    msgs[i] = rmq_message_new();
    rmq_message_set_topic(msgs[i], topic);
    rmq_message_set_body(msgs[i], (const uint8_t *)id, strlen(id));
    rmq_message_set_keys(msgs[i], id);
  }
  snprintf(rest + n, sizeof rest - (size_t)n, "]");
  record("call", rest);
  return call;
}

/* Records an answer: rc OK with a result (stored), OK without (oneway written), or a failure. */
static void answer(long call, rmq_result rc, const rmq_send_result *result, const char *error) {
  char rest[LINE_MAX_LEN], text[2048];
  if (rc != RMQ_RESULT_OK) {
    json_escape(text, sizeof text, error);
    snprintf(rest, sizeof rest, ",\"call\":%ld,\"ok\":false,\"kind\":\"%s\",\"error\":\"%s\"", call,
             rmq_result_name(rc), text);
  } else if (result != NULL) {
    json_escape(text, sizeof text, rmq_send_result_msg_id(result)); /* a batch's ids, joined */
    snprintf(rest, sizeof rest, ",\"call\":%ld,\"ok\":true,\"status\":\"%s\",\"uniq\":\"%s\"", call,
             rmq_send_status_name(rmq_send_result_status(result)), text);
  } else {
    snprintf(rest, sizeof rest, ",\"call\":%ld,\"ok\":true", call);
  }
  record("answer", rest);
  pthread_mutex_lock(&state_mu);
  if (!answered[call]) {
    answered[call] = 1;
    unanswered--;
  }
  pthread_cond_broadcast(&state_cv);
  pthread_mutex_unlock(&state_mu);
}

static const char *last_error(char *buf, size_t len) {
  rmq_last_error_message(buf, len);
  return buf;
}

static void on_attempt(void *userdata, const rmq_send_context *ctx) {
  (void)userdata;
  char rest[LINE_MAX_LEN], uniq[1024];
  rmq_result rc = rmq_send_context_result(ctx);
  json_escape(uniq, sizeof uniq, rmq_send_context_msg_id(ctx));
  int n = snprintf(rest, sizeof rest, ",\"uniq\":\"%s\",\"n\":%lld,\"ok\":%s", uniq,
                   (long long)rmq_send_context_attempt(ctx), rc == RMQ_RESULT_OK ? "true" : "false");
  if (rc != RMQ_RESULT_OK) snprintf(rest + n, sizeof rest - (size_t)n, ",\"kind\":\"%s\"", rmq_result_name(rc));
  record("attempt", rest);
}

static void send_sync(void) {
  rmq_message *msg;
  char err[1024];
  long call = new_call(SYNC, 1, &msg);
  rmq_send_result *result = NULL;
  rmq_result rc = rmq_producer_send_sync(producer, msg, &result);
  answer(call, rc, result, rc == RMQ_RESULT_OK ? NULL : last_error(err, sizeof err));
  rmq_send_result_free(result);
  rmq_message_free(msg);
}

static void release_async_slot(void) {
  pthread_mutex_lock(&state_mu);
  async_in_flight--;
  pthread_cond_broadcast(&state_cv);
  pthread_mutex_unlock(&state_mu);
}

static void on_delivery(void *userdata, rmq_result rc, const rmq_send_result *result, const rmq_error *error) {
  answer((long)(intptr_t)userdata, rc, result, rmq_error_message(error));
  release_async_slot();
}

static void send_async(void) {
  pthread_mutex_lock(&state_mu);
  while (async_in_flight >= MAX_ASYNC_IN_FLIGHT && !atomic_load(&stopping)) {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_nsec += 100000000;
    if (until.tv_nsec >= 1000000000) until.tv_sec++, until.tv_nsec -= 1000000000;
    pthread_cond_timedwait(&state_cv, &state_mu, &until);
  }
  bool go = !atomic_load(&stopping);
  if (go) async_in_flight++;
  pthread_mutex_unlock(&state_mu);
  if (!go) return;

  rmq_message *msg;
  char err[1024];
  long call = new_call(ASYNC, 1, &msg);
  rmq_result rc = rmq_producer_send_async(producer, msg, on_delivery, (void *)(intptr_t)call);
  if (rc != RMQ_RESULT_OK) { /* refused at once: the callback never runs */
    answer(call, rc, NULL, last_error(err, sizeof err));
    release_async_slot();
  }
  rmq_message_free(msg);
}

static void send_oneway(void) {
  rmq_message *msg;
  char err[1024];
  long call = new_call(ONEWAY, 1, &msg);
  rmq_result rc = rmq_producer_send_oneway(producer, msg);
  answer(call, rc, NULL, rc == RMQ_RESULT_OK ? NULL : last_error(err, sizeof err));
  rmq_message_free(msg);
}

static void send_batch(void) {
  rmq_message *msgs[BATCH_SIZE];
  char err[1024];
  long call = new_call(BATCH, BATCH_SIZE, msgs);
  rmq_batch *batch = rmq_batch_new();
  for (int i = 0; i < BATCH_SIZE; i++) {
    rmq_batch_add(batch, msgs[i]);
    rmq_message_free(msgs[i]);
  }
  rmq_send_result *result = NULL;
  rmq_result rc = rmq_producer_send_batch_sync(producer, batch, &result);
  answer(call, rc, result, rc == RMQ_RESULT_OK ? NULL : last_error(err, sizeof err));
  rmq_send_result_free(result);
  rmq_batch_free(batch);
}

struct loop {
  double calls_per_s;
  void (*send_one)(void);
};

/* Calls send_one about calls_per_s times a second until stopping; a loop that fell behind
 * catches up on at most one second of calls (no burst after a stall). */
static void *paced(void *arg) {
  const struct loop *loop = arg;
  double interval = 1000.0 / loop->calls_per_s, due = (double)clock_ms(CLOCK_MONOTONIC);
  while (!atomic_load(&stopping)) {
    loop->send_one();
    due += interval;
    if (clock_ms(CLOCK_MONOTONIC) - due > 1000) due = (double)clock_ms(CLOCK_MONOTONIC);
    for (double wait; !atomic_load(&stopping) && (wait = due - (double)clock_ms(CLOCK_MONOTONIC)) > 0;)
      sleep_ms(wait < 100 ? (int64_t)wait + 1 : 100);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: %s NAMESRV_ADDR TOPIC GROUP HISTORY_FILE RATE\n", argv[0]);
    return 2;
  }
  topic = argv[2];
  double rate = strtod(argv[5], NULL);
  if (!(rate >= 0.1)) rate = 0.1;
  if ((history = fopen(argv[4], "w")) == NULL) {
    perror(argv[4]);
    return 1;
  }
  char rest[LINE_MAX_LEN], err[1024];
  snprintf(rest, sizeof rest, ",\"lang\":\"" LANG "\",\"pid\":%ld", (long)getpid());
  record("start", rest);

  rmq_config *config = rmq_config_new();
  rmq_config_set(config, "group", argv[3], NULL, 0);
  rmq_config_set(config, "namesrv_addr", argv[1], NULL, 0);
  rmq_config_set(config, "send_timeout_ms", "3000", NULL, 0);
  rmq_result rc = rmq_producer_new(config, &producer, err, sizeof err);
  rmq_config_free(config);
  if (rc == RMQ_RESULT_OK) rc = rmq_producer_add_send_hook(producer, NULL, on_attempt, NULL);
  if (rc == RMQ_RESULT_OK) rc = rmq_producer_start(producer);
  if (rc != RMQ_RESULT_OK) {
    fprintf(stderr, "producer: %s: %s\n", rmq_result_name(rc), last_error(err, sizeof err));
    return 1;
  }

  double per_mode = rate / 4; /* messages/s for each of sync, async, oneway, batch */
  struct loop loops[] = {{per_mode / 2, send_sync}, {per_mode / 2, send_sync}, {per_mode, send_async},
                         {per_mode, send_oneway}, {per_mode / BATCH_SIZE, send_batch}};
  enum { LOOPS = sizeof loops / sizeof loops[0] };
  pthread_t threads[LOOPS];
  for (int i = 0; i < LOOPS; i++) pthread_create(&threads[i], NULL, paced, &loops[i]);

  char line[256];
  while (fgets(line, sizeof line, stdin) != NULL) {
    line[strcspn(line, "\r\n")] = '\0';
    if (strcmp(line, "stop") == 0) break;
  }
  atomic_store(&stopping, true);
  /* Shut down at once, async sends still in flight: their answers must still come. */
  if ((rc = rmq_producer_shutdown(producer)) != RMQ_RESULT_OK)
    fprintf(stderr, "shutdown: %s: %s\n", rmq_result_name(rc), last_error(err, sizeof err));

  int64_t deadline = clock_ms(CLOCK_REALTIME) + ANSWER_WAIT_MS;
  struct timespec until = {deadline / 1000, (deadline % 1000) * 1000000};
  pthread_mutex_lock(&state_mu);
  while (unanswered > 0 && pthread_cond_timedwait(&state_cv, &state_mu, &until) == 0) {
  }
  long outstanding = unanswered;
  pthread_mutex_unlock(&state_mu);
  snprintf(rest, sizeof rest, ",\"lang\":\"" LANG "\",\"outstanding\":%ld", outstanding);
  record("end", rest);
  if (outstanding > 0) _exit(0); /* a sender still stuck in the library must not hold us up */
  for (int i = 0; i < LOOPS; i++) pthread_join(threads[i], NULL);
  rmq_producer_free(producer);
  free(answered);
  return 0;
}
