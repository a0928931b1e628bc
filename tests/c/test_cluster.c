/*
 * C API tests against a real cluster (NAMESRV_ADDR): sync, async (thread and poll mode), oneway,
 * binary bodies, callbacks that call back into the library, shutdown and free with sends in flight,
 * and a broker-side rejection with its response code and remark.
 *
 * Every message expected in the store is written to the manifest ($RMQ_C_TEST_MANIFEST, JSON lines)
 * that readback.py compares, byte for byte, with what the independent Java reader finds.
 * $RMQ_C_TEST_SCALE (default 1) scales the message counts; $RMQ_C_TEST_RUN names the run (topics
 * are CTest_<case>_<run>).
 */
#define _POSIX_C_SOURCE 200809L

#include "cluster_support.h"

typedef struct {
  pthread_mutex_t lock;
  int calls, ok, shutdown, other, on_main_thread, malformed;
  int response_code; /* of the last failure */
  char remark[256];  /* of the last failure */
  rmq_result reentrant_sync, reentrant_flush, reentrant_shutdown, reentrant_oneway,
      reentrant_async;
} tally;

static tally *tally_new(void) {
  tally *t = calloc(1, sizeof *t);
  pthread_mutex_init(&t->lock, NULL);
  t->reentrant_sync = t->reentrant_flush = t->reentrant_shutdown = t->reentrant_oneway =
      t->reentrant_async = (rmq_result)-1;
  return t;
}

static int tally_calls(tally *t) {
  pthread_mutex_lock(&t->lock);
  int calls = t->calls;
  pthread_mutex_unlock(&t->lock);
  return calls;
}

static void tally_free(tally *t) {
  pthread_mutex_destroy(&t->lock);
  free(t);
}

/* The userdata of one async send. */
typedef struct {
  tally *tally;
  sent_message *message;
  rmq_producer *producer;
  int record;    /* write a stored message to the manifest */
  int reenter;   /* call back into the library from the callback */
} delivery;

static delivery *delivery_new(tally *t, sent_message *m, rmq_producer *p, int record) {
  delivery *d = calloc(1, sizeof *d);
  d->tally = t;
  d->message = m;
  d->producer = p;
  d->record = record;
  return d;
}

static void check_send_result(const rmq_send_result *r, const char *topic) {
  CHECK(rmq_send_result_status(r) == RMQ_SEND_STATUS_SEND_OK);
  CHECK(rmq_send_result_msg_id(r) != NULL && strlen(rmq_send_result_msg_id(r)) >= 32);
  CHECK(rmq_send_result_offset_msg_id(r) != NULL && strlen(rmq_send_result_offset_msg_id(r)) > 0);
  CHECK_STR(rmq_send_result_topic(r), topic);
  CHECK(rmq_send_result_broker_name(r) != NULL &&
        strncmp(rmq_send_result_broker_name(r), "broker-", 7) == 0);
  CHECK(rmq_send_result_queue_id(r) >= 0);
  CHECK(rmq_send_result_queue_offset(r) >= 0);
  CHECK(rmq_send_result_region_id(r) != NULL);
}

static void on_delivery(void *userdata, rmq_result result, const rmq_send_result *send_result,
                        const rmq_error *error);

/* Calls into the library from inside a callback, records what each call returned. */
static void reenter(delivery *d) {
  tally *t = d->tally;
  rmq_producer *p = d->producer;
  sent_message *follow = sent_text("Reenter", "sent from inside a callback");
  if (strstr(d->message->topic, "Poll")) {
    snprintf(follow->topic, sizeof follow->topic, "CTest_ReenterPoll_%s", run_name);
  }
  rmq_message *message = to_message(follow);
  rmq_send_result *result = NULL;
  rmq_result sync = rmq_producer_send_sync(p, message, &result);
  if (sync == RMQ_RESULT_OK) {
    record_stored(follow, rmq_send_result_msg_id(result));
    rmq_send_result_free(result);
    sent_message *again = sent_text("Reenter", "sent async from inside a callback");
    strcpy(again->topic, follow->topic);
    sent_free(follow);
    follow = again;
    rmq_message_free(message);
    message = to_message(follow);
  }
  rmq_result flush = rmq_producer_flush(p, 1000);
  rmq_result shutdown = rmq_producer_shutdown(p);
  rmq_result oneway = sync == RMQ_RESULT_OK ? RMQ_RESULT_ILLEGAL_STATE
                                            : rmq_producer_send_oneway(p, message);
  rmq_result async = rmq_producer_send_async(p, message, on_delivery, delivery_new(t, follow, p, 1));
  rmq_message_free(message);
  pthread_mutex_lock(&t->lock);
  t->reentrant_sync = sync;
  t->reentrant_flush = flush;
  t->reentrant_shutdown = shutdown;
  t->reentrant_oneway = oneway;
  t->reentrant_async = async;
  pthread_mutex_unlock(&t->lock);
}

static void on_delivery(void *userdata, rmq_result result, const rmq_send_result *send_result,
                        const rmq_error *error) {
  delivery *d = userdata;
  tally *t = d->tally;
  int malformed = 0;
  if (result == RMQ_RESULT_OK) {
    malformed = send_result == NULL || error != NULL;
    if (!malformed) {
      check_send_result(send_result, d->message->topic);
      if (d->record) record_stored(d->message, rmq_send_result_msg_id(send_result));
    }
  } else {
    malformed = send_result != NULL || error == NULL || rmq_error_code(error) != result;
    if (error != NULL) {
      pthread_mutex_lock(&t->lock);
      t->response_code = rmq_error_response_code(error);
      snprintf(t->remark, sizeof t->remark, "%s",
               rmq_error_remark(error) ? rmq_error_remark(error) : "");
      pthread_mutex_unlock(&t->lock);
    }
    if (result != RMQ_RESULT_SHUTDOWN && error != NULL)
      fprintf(stderr, "  delivery failed: %s: %s\n", rmq_result_name(result),
              rmq_error_message(error));
  }
  if (d->reenter) reenter(d);
  pthread_mutex_lock(&t->lock);
  t->calls++;
  t->malformed += malformed;
  if (result == RMQ_RESULT_OK) t->ok++;
  else if (result == RMQ_RESULT_SHUTDOWN) t->shutdown++;
  else t->other++;
  if (pthread_equal(pthread_self(), main_thread)) t->on_main_thread++;
  pthread_mutex_unlock(&t->lock);
  sent_free(d->message);
  free(d);
}

static int send_async(rmq_producer *p, tally *t, sent_message *m, int record) {
  rmq_message *message = to_message(m);
  rmq_result rc = rmq_producer_send_async(p, message, on_delivery, delivery_new(t, m, p, record));
  rmq_message_free(message); /* the library copied it */
  CHECK_RC(rc, RMQ_RESULT_OK);
  return rc == RMQ_RESULT_OK;
}

static void poll_until(rmq_producer *p, tally *t, int calls) {
  for (int rounds = 0; tally_calls(t) < calls && rounds < 600; rounds++) {
    size_t served = 0;
    CHECK_RC(rmq_producer_poll(p, 100, &served), RMQ_RESULT_OK);
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Tests                                                                                      */

static void sync_sends_return_the_full_result(void) {
  rmq_producer *p = producer_for("sync", "thread");
  for (int i = 0; i < 20 * scale; i++) {
    char body[64];
    snprintf(body, sizeof body, "Hello RocketMQ %d", i);
    sent_message *m = sent_text("Sync", body);
    rmq_message *message = to_message(m);
    rmq_send_result *result = NULL;
    CHECK_RC(rmq_producer_send_sync(p, message, &result), RMQ_RESULT_OK);
    if (result) {
      check_send_result(result, m->topic);
      rmq_send_result *kept = rmq_send_result_clone(result);
      CHECK_STR(rmq_send_result_msg_id(kept), rmq_send_result_msg_id(result));
      rmq_send_result_free(kept);
      record_stored(m, rmq_send_result_msg_id(result));
      rmq_send_result_free(result);
    }
    rmq_message_free(message);
    sent_free(m);
  }
  CHECK_RC(rmq_producer_shutdown(p), RMQ_RESULT_OK);
  rmq_producer_free(p);
}

static void binary_bodies_are_stored_byte_exact(void) {
  rmq_producer *p = producer_for("binary", "thread");
  size_t sizes[] = {1, 256, 4095, 4096, 100000, 1 << 20};
  for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    size_t len = sizes[s];
    uint8_t *body = malloc(len);
    for (size_t i = 0; i < len; i++) {
      /* NUL bytes, every byte value, and both compressible and incompressible stretches. */
      body[i] = (s % 2 == 0) ? (uint8_t)(i % 256) : (uint8_t)(rand() & 0xff);
    }
    body[0] = 0;
    sent_message *m = sent_new("Binary", body, len);
    rmq_message *message = to_message(m);
    rmq_send_result *result = NULL;
    CHECK_RC(rmq_producer_send_sync(p, message, &result), RMQ_RESULT_OK);
    if (result) record_stored(m, rmq_send_result_msg_id(result));
    rmq_send_result_free(result);
    rmq_message_free(message);
    sent_free(m);
    free(body);
  }
  rmq_producer_free(p);
}

static void async_callbacks_run_once_on_a_library_thread(void) {
  rmq_producer *p = producer_for("async", "thread");
  tally *t = tally_new();
  int sends = 50 * scale, accepted = 0;
  for (int i = 0; i < sends; i++) {
    char body[64];
    snprintf(body, sizeof body, "async %d", i);
    accepted += send_async(p, t, sent_text("Async", body), 1);
  }
  CHECK_RC(rmq_producer_flush(p, 60000), RMQ_RESULT_OK);
  CHECK(rmq_producer_in_flight(p) == 0);
  CHECK(t->calls == accepted && t->ok == accepted && t->malformed == 0);
  CHECK(t->on_main_thread == 0);
  rmq_producer_free(p);
  CHECK(t->calls == accepted);
  tally_free(t);
}

static void poll_mode_runs_callbacks_on_the_polling_thread(void) {
  rmq_producer *p = producer_for("poll", "poll");
  tally *t = tally_new();
  int sends = 30 * scale, accepted = 0;
  for (int i = 0; i < sends; i++) {
    char body[64];
    snprintf(body, sizeof body, "poll %d", i);
    accepted += send_async(p, t, sent_text("Poll", body), 1);
  }
  struct timespec pause = {0, 300 * 1000 * 1000};
  nanosleep(&pause, NULL);
  CHECK(tally_calls(t) == 0); /* nothing runs until the application polls */
  poll_until(p, t, accepted);
  CHECK(t->calls == accepted && t->ok == accepted && t->malformed == 0);
  CHECK(t->on_main_thread == accepted);
  CHECK(rmq_producer_in_flight(p) == 0);
  size_t served = 42;
  CHECK_RC(rmq_producer_poll(p, 0, &served), RMQ_RESULT_OK);
  CHECK(served == 0);
  rmq_producer_free(p);
  tally_free(t);
}

static void oneway_sends_are_stored(void) {
  rmq_producer *p = producer_for("oneway", "thread");
  for (int i = 0; i < 10 * scale; i++) {
    char body[64];
    snprintf(body, sizeof body, "oneway %d", i);
    sent_message *m = sent_text("Oneway", body);
    rmq_message *message = to_message(m);
    rmq_result rc = rmq_producer_send_oneway(p, message);
    CHECK_RC(rc, RMQ_RESULT_OK);
    if (rc == RMQ_RESULT_OK) record_stored(m, NULL);
    rmq_message_free(message);
    sent_free(m);
  }
  rmq_producer_free(p);
}

/* One producer shared by several threads, each sending sync and async at once. */
enum { SHARING_THREADS = 4 };

typedef struct {
  rmq_producer *producer;
  tally *tally;
  int index;
  int accepted;
} sharer;

static void *share_producer(void *arg) {
  sharer *s = arg;
  for (int i = 0; i < 10 * scale; i++) {
    char body[64];
    snprintf(body, sizeof body, "thread %d sync %d", s->index, i);
    sent_message *m = sent_text("Threads", body);
    rmq_message *message = to_message(m);
    rmq_send_result *result = NULL;
    if (rmq_producer_send_sync(s->producer, message, &result) == RMQ_RESULT_OK) {
      record_stored(m, rmq_send_result_msg_id(result));
    } else {
      CHECK(!"a sync send from a sharing thread failed");
    }
    rmq_send_result_free(result);
    rmq_message_free(message);
    sent_free(m);
    snprintf(body, sizeof body, "thread %d async %d", s->index, i);
    s->accepted += send_async(s->producer, s->tally, sent_text("Threads", body), 1);
  }
  return NULL;
}

static void threads_share_one_producer(void) {
  rmq_producer *p = producer_for("threads", "thread");
  tally *t = tally_new();
  pthread_t threads[SHARING_THREADS];
  sharer sharers[SHARING_THREADS];
  for (int i = 0; i < SHARING_THREADS; i++) {
    sharers[i] = (sharer){p, t, i, 0};
    CHECK(pthread_create(&threads[i], NULL, share_producer, &sharers[i]) == 0);
  }
  int accepted = 0;
  for (int i = 0; i < SHARING_THREADS; i++) {
    pthread_join(threads[i], NULL);
    accepted += sharers[i].accepted;
  }
  CHECK_RC(rmq_producer_flush(p, 60000), RMQ_RESULT_OK);
  CHECK(accepted == SHARING_THREADS * 10 * scale);
  CHECK(t->calls == accepted && t->ok == accepted && t->malformed == 0);
  rmq_producer_free(p);
  tally_free(t);
}

/* Thread mode: blocking calls refuse (no deadlock), send_async works. */
static void thread_mode_callbacks_may_send_async_but_not_block(void) {
  rmq_producer *p = producer_for("reenter", "thread");
  tally *t = tally_new();
  sent_message *m = sent_text("Reenter", "first");
  rmq_message *message = to_message(m);
  delivery *d = delivery_new(t, m, p, 1);
  d->reenter = 1;
  CHECK_RC(rmq_producer_send_async(p, message, on_delivery, d), RMQ_RESULT_OK);
  rmq_message_free(message);
  /* The first callback's flush is refused, so it does not wait; the follow-up is counted. */
  for (int i = 0; i < 100 && tally_calls(t) < 2; i++) {
    CHECK_RC(rmq_producer_flush(p, 30000), RMQ_RESULT_OK);
  }
  CHECK(t->calls == 2 && t->ok == 2);
  CHECK(t->reentrant_sync == RMQ_RESULT_ILLEGAL_STATE);
  CHECK(t->reentrant_flush == RMQ_RESULT_ILLEGAL_STATE);
  CHECK(t->reentrant_shutdown == RMQ_RESULT_ILLEGAL_STATE);
  CHECK(t->reentrant_oneway == RMQ_RESULT_ILLEGAL_STATE);
  CHECK(t->reentrant_async == RMQ_RESULT_OK);
  rmq_producer_free(p);
  tally_free(t);
}

/* Poll mode: the callback runs on the application's thread, where even send_sync works. */
static void poll_mode_callbacks_may_call_anything_but_flush_and_shutdown(void) {
  rmq_producer *p = producer_for("reenter_poll", "poll");
  tally *t = tally_new();
  sent_message *m = sent_text("ReenterPoll", "first");
  rmq_message *message = to_message(m);
  delivery *d = delivery_new(t, m, p, 1);
  d->reenter = 1;
  CHECK_RC(rmq_producer_send_async(p, message, on_delivery, d), RMQ_RESULT_OK);
  rmq_message_free(message);
  poll_until(p, t, 2);
  CHECK(t->calls == 2 && t->ok == 2 && t->on_main_thread == 2);
  CHECK(t->reentrant_sync == RMQ_RESULT_OK);
  CHECK(t->reentrant_flush == RMQ_RESULT_ILLEGAL_STATE);
  CHECK(t->reentrant_shutdown == RMQ_RESULT_ILLEGAL_STATE);
  CHECK(t->reentrant_async == RMQ_RESULT_OK);
  rmq_producer_free(p);
  tally_free(t);
}

/* Shutdown with sends in flight: when it returns, every callback has run exactly once. */
static void shutdown_delivers_every_outcome(const char *mode) {
  char group[32];
  snprintf(group, sizeof group, "shutdown_%s", mode);
  rmq_producer *p = producer_for(group, mode);
  tally *t = tally_new();
  int sends = 100 * scale, accepted = 0;
  for (int i = 0; i < sends; i++) {
    accepted += send_async(p, t, sent_text("Shutdown", "in flight at shutdown"), 0);
  }
  CHECK_RC(rmq_producer_shutdown(p), RMQ_RESULT_OK);
  CHECK(t->calls == accepted);
  CHECK(t->ok + t->shutdown == accepted && t->malformed == 0);
  CHECK(rmq_producer_in_flight(p) == 0);
  CHECK_RC(rmq_producer_send_async(p, NULL, on_delivery, NULL), RMQ_RESULT_INVALID_ARGUMENT);
  rmq_producer_free(p);
  CHECK(t->calls == accepted);
  tally_free(t);
}

static void shutdown_delivers_every_outcome_thread(void) { shutdown_delivers_every_outcome("thread"); }
static void shutdown_delivers_every_outcome_poll(void) { shutdown_delivers_every_outcome("poll"); }

/* Free without shutdown or poll: the queued callbacks still run, inside free. */
static void free_runs_the_callbacks_still_pending(void) {
  rmq_producer *p = producer_for("free_pending", "poll");
  tally *t = tally_new();
  int accepted = 0;
  for (int i = 0; i < 20; i++) {
    accepted += send_async(p, t, sent_text("Shutdown", "pending at free"), 0);
  }
  rmq_producer_free(p);
  CHECK(t->calls == accepted && t->on_main_thread == accepted);
  tally_free(t);
}

/* A body over the broker's 4 MiB limit (allowed by the client's max_message_size): the broker
 * refuses it, and the error carries its response code and remark. */
static void broker_rejections_carry_response_code_and_remark(void) {
  rmq_producer *p = producer_with("broker_error", "thread", "max_message_size", "8388608");
  size_t len = 5 << 20;
  uint8_t *body = malloc(len);
  for (size_t i = 0; i < len; i++) body[i] = (uint8_t)(rand() & 0xff);
  sent_message *m = sent_new("TooBig", body, len);
  free(body);
  rmq_message *message = to_message(m);
  rmq_send_result *result = NULL;
  CHECK_RC(rmq_producer_send_sync(p, message, &result), RMQ_RESULT_BROKER);
  CHECK(result == NULL);
  CHECK(rmq_last_error_code() == RMQ_RESULT_BROKER);
  CHECK(rmq_last_error_response_code() > 0);
  char remark[512] = "";
  CHECK(rmq_last_error_remark(remark, sizeof remark) > 0 && strlen(remark) > 0);
  char text[1024];
  rmq_last_error_message(text, sizeof text);
  fprintf(stderr, "        broker said %d: %s\n", rmq_last_error_response_code(), text);

  /* The same through send_async: the callback's error has the code and remark. */
  tally *t = tally_new();
  CHECK_RC(rmq_producer_send_async(p, message, on_delivery, delivery_new(t, m, p, 0)),
           RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_flush(p, 60000), RMQ_RESULT_OK);
  CHECK(t->calls == 1 && t->other == 1);
  CHECK(t->response_code > 0);
  CHECK(strlen(t->remark) > 0);
  tally_free(t);
  rmq_message_free(message);
  rmq_producer_free(p);
}

int main(void) {
  int setup = cluster_setup("test_cluster");
  if (setup != 0) return setup;

  RUN(sync_sends_return_the_full_result);
  RUN(binary_bodies_are_stored_byte_exact);
  RUN(async_callbacks_run_once_on_a_library_thread);
  RUN(poll_mode_runs_callbacks_on_the_polling_thread);
  RUN(oneway_sends_are_stored);
  RUN(threads_share_one_producer);
  RUN(thread_mode_callbacks_may_send_async_but_not_block);
  RUN(poll_mode_callbacks_may_call_anything_but_flush_and_shutdown);
  RUN(shutdown_delivers_every_outcome_thread);
  RUN(shutdown_delivers_every_outcome_poll);
  RUN(free_runs_the_callbacks_still_pending);
  RUN(broker_rejections_carry_response_code_and_remark);
  fclose(manifest);
  return harness_finish("test_cluster");
}
