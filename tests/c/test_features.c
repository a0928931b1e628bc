/*
 * C API tests of the producer's features against a real cluster (NAMESRV_ADDR): sends to a chosen
 * queue (explicit, selector, sharding key compared with the official Java client), batches,
 * request-reply against the Java responder, transactions with the broker's check-back, send hooks,
 * delay levels and timer messages, recall of timer messages, namespaces, the VIP channel, ACL and
 * TLS (the secure cluster, RMQ_SECURE_*), async backpressure, compression types and message trace
 * (read back by Java's mqadmin queryMsgTraceById).
 *
 * What must be in the store goes to the manifest, which readback.py compares with what the
 * independent Java reader finds (also where a message is stored, its store delay and sysFlag).
 * Some tests also ask the Java tools directly ($RMQ_CLUSTER, the rmq-cluster launcher).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <unistd.h>

#include "cluster_support.h"

static const char *launcher;

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static void sleep_ms(long ms) {
  struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&pause, NULL);
}

/* Runs the launcher with `args` (shell words) and returns its stdout (malloc'ed; NULL and a
 * failure when it fails). */
static char *launcher_output(const char *args) {
  char command[2048];
  snprintf(command, sizeof command, "'%s' %s", launcher, args);
  FILE *out = popen(command, "r");
  if (!out) {
    CHECK(!"popen failed");
    return NULL;
  }
  size_t cap = 4096, len = 0;
  char *text = malloc(cap);
  size_t n;
  while ((n = fread(text + len, 1, cap - len - 1, out)) > 0) {
    len += n;
    if (cap - len < 2) text = realloc(text, cap *= 2);
  }
  text[len] = '\0';
  int status = pclose(out);
  if (status != 0) {
    fprintf(stderr, "  rmq-cluster %s failed (%d):\n%s\n", args, status, text);
    CHECK(!"an rmq-cluster command failed");
    free(text);
    return NULL;
  }
  return text;
}

static void create_topic(const char *topic, int queues) {
  char args[256];
  snprintf(args, sizeof args, "create-topic '%s' --queues %d%s", topic, queues,
           getenv("REAL_NAMESRV_ADDR") ? " --message-type NORMAL" : "");
  free(launcher_output(args));
}

/* The groups that hold `topic` as the NameServer routes it (two masters, or one controller group),
 * their names sorted into names[]; returns how many. */
enum { MAX_GROUPS = 8, GROUP_NAME_LEN = 64 };
static int compare_names(const void *a, const void *b) { return strcmp(a, b); }
static int route_groups(const char *topic, char names[MAX_GROUPS][GROUP_NAME_LEN]) {
  char args[256];
  snprintf(args, sizeof args, "route '%s'", topic);
  char *route = launcher_output(args);
  const char *queue_datas = route ? strstr(route, "\"queueDatas\"") : NULL;
  const char *end = queue_datas ? strchr(queue_datas, ']') : NULL;
  int count = 0;
  for (const char *at = queue_datas; at && count < MAX_GROUPS;) {
    at = strstr(at, "\"brokerName\": \"");
    if (at == NULL || at > end) break;
    at += strlen("\"brokerName\": \"");
    size_t n = strcspn(at, "\"");
    snprintf(names[count++], GROUP_NAME_LEN, "%.*s", (int)n, at);
  }
  qsort(names, (size_t)count, GROUP_NAME_LEN, compare_names);
  free(route);
  return count;
}

/* The string value of "key":"value" in a JSON line (copied into out), or "" when absent. */
static void json_text(const char *json, const char *key, char *out, size_t len) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "\"%s\":", key);
  const char *at = json ? strstr(json, pattern) : NULL;
  out[0] = '\0';
  if (!at) return;
  at += strlen(pattern);
  at += strspn(at, " "); /* compact JSON, or Python's json.dumps */
  if (*at++ != '"') return;
  size_t n = strcspn(at, "\"");
  if (n >= len) n = len - 1;
  memcpy(out, at, n);
  out[n] = '\0';
}

/* The integer value of "key":N in a JSON line, or -1 when absent. */
static long json_int(const char *json, const char *key) {
  char pattern[64];
  snprintf(pattern, sizeof pattern, "\"%s\":", key);
  const char *at = json ? strstr(json, pattern) : NULL;
  return at ? strtol(at + strlen(pattern), NULL, 10) : -1;
}

static rmq_send_result *send_sync_ok(rmq_producer *p, const sent_message *m) {
  rmq_message *message = to_message(m);
  rmq_send_result *result = NULL;
  CHECK_RC(rmq_producer_send_sync(p, message, &result), RMQ_RESULT_OK);
  rmq_message_free(message);
  return result;
}

/* Records `m` as stored where `result` says, checking that place in the store too. */
static void record_in_queue(const sent_message *m, const rmq_send_result *result) {
  char extra[160];
  snprintf(extra, sizeof extra, "\"queue\":[\"%s\",%d]", rmq_send_result_broker_name(result),
           rmq_send_result_queue_id(result));
  record_stored_with(m, rmq_send_result_msg_id(result), extra);
}

/* ------------------------------------------------------------------------------------------ */
/* 1. Queues: explicit, selector, sharding key                                                */

typedef struct {
  int calls;
  int index; /* what to return; INT32_MIN: the last queue */
  int queue_count;
  int saw_tags;
  int on_main_thread;
} selection;

static int32_t select_queue(void *userdata, const rmq_queue_list *queues,
                            const rmq_message *message) {
  selection *s = userdata;
  s->calls++;
  s->queue_count = (int)rmq_queue_list_len(queues);
  s->saw_tags = rmq_message_tags(message) && strcmp(rmq_message_tags(message), "TagA") == 0;
  s->on_main_thread = pthread_equal(pthread_self(), main_thread);
  return s->index == INT32_MIN ? (int32_t)rmq_queue_list_len(queues) - 1 : s->index;
}

/* Where the Java client stores a message sent with --sharding-key (the message is recorded). */
static int java_send_with_sharding_key(const char *topic, const char *key, char *broker,
                                       size_t broker_len) {
  sent_message *m = sent_text("Selected", "sent by the Java client");
  snprintf(m->topic, sizeof m->topic, "%s", topic);
  char args[1024];
  snprintf(args, sizeof args,
           "send '%s' '%s' --sharding-key '%s' --tags '%s' --keys order-1,user-7 --prop 'c_id=%s' "
           "--prop lang=C --prop 'greeting=h\xc3\xa9llo w\xc3\xb6rld'",
           topic, "sent by the Java client", key, m->tags, m->id);
  char *out = launcher_output(args);
  char status[32], msg_id[64];
  json_text(out, "status", status, sizeof status);
  json_text(out, "msgId", msg_id, sizeof msg_id);
  json_text(out, "brokerName", broker, broker_len);
  int queue_id = (int)json_int(out, "queueId");
  CHECK_STR(status, "SEND_OK");
  if (out && strcmp(status, "SEND_OK") == 0) record_stored(m, msg_id);
  free(out);
  sent_free(m);
  return queue_id;
}

/* An async send to a chosen queue: where it must land, and whether it did. */
typedef struct {
  sent_message *m;
  char broker[64];
  int queue_id;
  int landed;
} queued_delivery;

static void on_queued_delivery(void *userdata, rmq_result rc, const rmq_send_result *r,
                               const rmq_error *e) {
  queued_delivery *d = userdata;
  (void)e;
  CHECK(rc == RMQ_RESULT_OK);
  if (r) {
    d->landed = strcmp(rmq_send_result_broker_name(r), d->broker) == 0 &&
                rmq_send_result_queue_id(r) == d->queue_id;
    record_in_queue(d->m, r);
  }
}

/* Sends `m` async to `queue` (or by `key` when queue is NULL); checks it lands on broker/queue_id. */
static void send_chosen_async(rmq_producer *p, const rmq_message_queue *queue, const char *key,
                              const char *broker, int queue_id) {
  queued_delivery d = {sent_text("Selected", "async, to a chosen queue"), "", queue_id, 0};
  snprintf(d.broker, sizeof d.broker, "%s", broker);
  rmq_message *message = to_message(d.m);
  if (queue)
    CHECK_RC(rmq_producer_send_to_queue_async(p, message, queue, on_queued_delivery, &d),
             RMQ_RESULT_OK);
  else
    CHECK_RC(rmq_producer_send_with_sharding_key_async(p, message, key, on_queued_delivery, &d),
             RMQ_RESULT_OK);
  rmq_message_free(message);
  CHECK_RC(rmq_producer_flush(p, 60000), RMQ_RESULT_OK);
  CHECK(d.landed);
  sent_free(d.m);
}

static void explicit_queue_selector_and_sharding_key_land_where_asked(void) {
  rmq_producer *p = producer_for("select", "thread");
  char topic[128];
  snprintf(topic, sizeof topic, "CTest_Selected_%s", run_name);
  create_topic(topic, 4);

  char groups[MAX_GROUPS][GROUP_NAME_LEN];
  int group_count = route_groups(topic, groups);
  CHECK(group_count > 0);
  int queue_count = 4 * group_count;
  rmq_queue_list *queues = NULL;
  CHECK_RC(rmq_producer_publish_queues(p, topic, &queues), RMQ_RESULT_OK);
  CHECK(rmq_queue_list_len(queues) == (size_t)queue_count);
  for (size_t i = 0; i < rmq_queue_list_len(queues) && i < (size_t)queue_count; i++) {
    const rmq_message_queue *q = rmq_queue_list_get(queues, i);
    CHECK_STR(rmq_message_queue_topic(q), topic);
    CHECK_STR(rmq_message_queue_broker_name(q), groups[i / 4]);
    CHECK(rmq_message_queue_queue_id(q) == (int)(i % 4));
  }
  CHECK(rmq_queue_list_get(queues, (size_t)queue_count) == NULL);

  /* Explicit queues: one from the list, one made from its parts. */
  rmq_message_queue *made = NULL;
  CHECK_RC(rmq_message_queue_new(topic, "broker-a", 1, &made), RMQ_RESULT_OK);
  const rmq_message_queue *targets[] = {rmq_queue_list_get(queues, (size_t)queue_count - 2), made};
  for (int i = 0; i < 2; i++) {
    sent_message *m = sent_text("Selected", "to an explicit queue");
    rmq_message *message = to_message(m);
    rmq_send_result *result = NULL;
    CHECK_RC(rmq_producer_send_to_queue(p, message, targets[i], &result), RMQ_RESULT_OK);
    if (result) {
      CHECK_STR(rmq_send_result_broker_name(result), rmq_message_queue_broker_name(targets[i]));
      CHECK(rmq_send_result_queue_id(result) == rmq_message_queue_queue_id(targets[i]));
      record_in_queue(m, result);
    }
    rmq_send_result_free(result);
    rmq_message_free(message);
    sent_free(m);
  }

  send_chosen_async(p, rmq_queue_list_get(queues, 3), NULL, "broker-a", 3);

  /* A selector: it sees the queues and the message, and picks the last queue. */
  selection s = {0, INT32_MIN, 0, 0, 0};
  sent_message *m = sent_text("Selected", "to the queue a selector picked");
  rmq_message *message = to_message(m);
  rmq_send_result *result = NULL;
  CHECK_RC(rmq_producer_send_with_selector(p, message, select_queue, &s, &result), RMQ_RESULT_OK);
  CHECK(s.calls == 1 && s.queue_count == queue_count && s.saw_tags && !s.on_main_thread);
  if (result) {
    CHECK_STR(rmq_send_result_broker_name(result), groups[group_count - 1]);
    CHECK(rmq_send_result_queue_id(result) == 3);
    record_in_queue(m, result);
  }
  rmq_send_result_free(result);
  sent_free(m);

  /* Bad choices fail before anything is sent, with a typed error, and write no result. */
  int bad_indexes[] = {queue_count, -1, 1000};
  for (size_t i = 0; i < sizeof bad_indexes / sizeof bad_indexes[0]; i++) {
    selection bad = {0, bad_indexes[i], 0, 0, 0};
    result = NULL;
    CHECK_RC(rmq_producer_send_with_selector(p, message, select_queue, &bad, &result),
             RMQ_RESULT_INVALID_ARGUMENT);
    CHECK(result == NULL && bad.calls == 1);
    char text[240], expected[240];
    rmq_last_error_message(text, sizeof text);
    snprintf(expected, sizeof expected,
             "the queue selector returned index %d, but topic '%s' has %d writable queue(s)",
             bad_indexes[i], topic, queue_count);
    CHECK_STR(text, expected);
  }
  CHECK_RC(rmq_producer_send_with_selector(p, message, NULL, NULL, &result),
           RMQ_RESULT_INVALID_ARGUMENT);
  rmq_message_queue *foreign = NULL;
  CHECK_RC(rmq_message_queue_new("CTest_Other", "broker-a", 0, &foreign), RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_send_to_queue(p, message, foreign, &result), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK(result == NULL);
  rmq_message_queue_free(foreign);
  rmq_message_free(message);

  /* The same keys through the Java client and through ours land on the same queues. */
  const char *keys[] = {"order-1", "order-2", "customer-42", "cl\xc3\xa9-\xc3\xa9",
                        "polygenelubricants", "z"};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    char java_broker[64];
    int java_queue = java_send_with_sharding_key(topic, keys[i], java_broker, sizeof java_broker);
    m = sent_text("Selected", "sent with a sharding key");
    message = to_message(m);
    result = NULL;
    CHECK_RC(rmq_producer_send_with_sharding_key(p, message, keys[i], &result), RMQ_RESULT_OK);
    if (result) {
      CHECK_STR(rmq_send_result_broker_name(result), java_broker);
      CHECK(rmq_send_result_queue_id(result) == java_queue);
      if (rmq_send_result_queue_id(result) != java_queue)
        fprintf(stderr, "  key %s: ours %s/%d, Java's %s/%d\n", keys[i],
                rmq_send_result_broker_name(result), rmq_send_result_queue_id(result),
                java_broker, java_queue);
      record_in_queue(m, result);
      send_chosen_async(p, NULL, keys[i], java_broker, java_queue);
    }
    rmq_send_result_free(result);
    rmq_message_free(message);
    sent_free(m);
  }
  CHECK_RC(rmq_producer_send_with_sharding_key(p, NULL, "k", &result),
           RMQ_RESULT_INVALID_ARGUMENT);
  rmq_message_queue_free(made);
  rmq_queue_list_free(queues);
  rmq_producer_free(p);
}

/* ------------------------------------------------------------------------------------------ */
/* 2. Batches                                                                                 */

typedef struct {
  pthread_mutex_t lock;
  int calls, ok;
  sent_message **messages;
  int count;
} batch_delivery;

static void on_batch_delivery(void *userdata, rmq_result rc, const rmq_send_result *result,
                              const rmq_error *error) {
  batch_delivery *d = userdata;
  (void)error;
  pthread_mutex_lock(&d->lock);
  d->calls++;
  if (rc == RMQ_RESULT_OK && result) {
    d->ok++;
    CHECK(rmq_send_result_msg_id_count(result) == (size_t)d->count);
    for (int i = 0; i < d->count; i++) {
      char extra[160];
      snprintf(extra, sizeof extra, "\"queue\":[\"%s\",%d]", rmq_send_result_broker_name(result),
               rmq_send_result_queue_id(result));
      record_stored_with(d->messages[i], rmq_send_result_msg_id_at(result, (size_t)i), extra);
    }
  }
  pthread_mutex_unlock(&d->lock);
}

static rmq_batch *batch_of(sent_message **messages, int count) {
  rmq_batch *batch = rmq_batch_new();
  for (int i = 0; i < count; i++) {
    rmq_message *message = to_message(messages[i]);
    CHECK_RC(rmq_batch_add(batch, message), RMQ_RESULT_OK);
    rmq_message_free(message);
  }
  CHECK(rmq_batch_len(batch) == (size_t)count);
  return batch;
}

static void batches_sync_and_async_store_every_message(void) {
  rmq_producer *p = producer_for("batch", "thread");
  enum { SYNC_COUNT = 3, ASYNC_COUNT = 4 };
  sent_message *sync_messages[SYNC_COUNT], *async_messages[ASYNC_COUNT];
  for (int i = 0; i < SYNC_COUNT; i++) sync_messages[i] = sent_text("Batch", "in a sync batch");
  for (int i = 0; i < ASYNC_COUNT; i++) async_messages[i] = sent_text("Batch", "in an async batch");

  rmq_batch *batch = batch_of(sync_messages, SYNC_COUNT);
  rmq_send_result *result = NULL;
  CHECK_RC(rmq_producer_send_batch_sync(p, batch, &result), RMQ_RESULT_OK);
  if (result) {
    CHECK(rmq_send_result_msg_id_count(result) == SYNC_COUNT);
    CHECK(rmq_send_result_msg_id_at(result, SYNC_COUNT) == NULL);
    for (int i = 0; i < SYNC_COUNT; i++) {
      char extra[160];
      snprintf(extra, sizeof extra, "\"queue\":[\"%s\",%d]", rmq_send_result_broker_name(result),
               rmq_send_result_queue_id(result));
      record_stored_with(sync_messages[i], rmq_send_result_msg_id_at(result, (size_t)i), extra);
    }
  }
  rmq_send_result_free(result);
  result = NULL;
  rmq_batch_free(batch);

  batch_delivery d = {PTHREAD_MUTEX_INITIALIZER, 0, 0, async_messages, ASYNC_COUNT};
  batch = batch_of(async_messages, ASYNC_COUNT);
  CHECK_RC(rmq_producer_send_batch_async(p, batch, on_batch_delivery, &d), RMQ_RESULT_OK);
  rmq_batch_free(batch);
  CHECK_RC(rmq_producer_flush(p, 60000), RMQ_RESULT_OK);
  CHECK(d.calls == 1 && d.ok == 1);

  /* Java's rules, refused before the network (and the async form never calls back). */
  sent_message *one = sent_text("Batch", "x"), *other = sent_text("BatchOther", "x");
  sent_message *mixed[] = {one, other};
  rmq_batch *bad = batch_of(mixed, 2);
  CHECK_RC(rmq_producer_send_batch_sync(p, bad, &result), RMQ_RESULT_INVALID_MESSAGE);
  CHECK_RC(rmq_producer_send_batch_async(p, bad, on_batch_delivery, &d),
           RMQ_RESULT_INVALID_MESSAGE);
  rmq_batch_free(bad);
  bad = rmq_batch_new();
  rmq_message *delayed = to_message(one);
  CHECK_RC(rmq_message_set_delay_level(delayed, 1), RMQ_RESULT_OK);
  CHECK_RC(rmq_batch_add(bad, delayed), RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_send_batch_sync(p, bad, &result), RMQ_RESULT_INVALID_MESSAGE);
  rmq_message_free(delayed);
  rmq_batch_free(bad);
  bad = rmq_batch_new();
  CHECK_RC(rmq_producer_send_batch_sync(p, bad, &result), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_send_batch_async(p, bad, on_batch_delivery, &d),
           RMQ_RESULT_INVALID_ARGUMENT);
  size_t big_len = 3 << 20;
  uint8_t *big = calloc(1, big_len);
  rmq_message *large = to_message(one);
  CHECK_RC(rmq_message_set_body(large, big, big_len), RMQ_RESULT_OK);
  CHECK_RC(rmq_batch_add(bad, large), RMQ_RESULT_OK);
  CHECK_RC(rmq_batch_add(bad, large), RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_send_batch_sync(p, bad, &result), RMQ_RESULT_MESSAGE_TOO_LARGE);
  CHECK(result == NULL);
  free(big);
  rmq_message_free(large);
  rmq_batch_free(bad);
  CHECK_RC(rmq_producer_flush(p, 60000), RMQ_RESULT_OK);
  CHECK(d.calls == 1);
  sent_free(one);
  sent_free(other);

  for (int i = 0; i < SYNC_COUNT; i++) sent_free(sync_messages[i]);
  for (int i = 0; i < ASYNC_COUNT; i++) sent_free(async_messages[i]);
  rmq_producer_free(p);
}

/* ------------------------------------------------------------------------------------------ */
/* 4. Request-reply                                                                           */

typedef struct {
  pthread_mutex_t lock;
  int calls;
  rmq_result result;
  char body[128];
  char topic[128];
  int reply_null, error_null;
} reply_tally;

static void on_reply(void *userdata, rmq_result rc, const rmq_message *reply,
                     const rmq_error *error) {
  reply_tally *t = userdata;
  pthread_mutex_lock(&t->lock);
  t->calls++;
  t->result = rc;
  t->reply_null = reply == NULL;
  t->error_null = error == NULL;
  if (reply) {
    size_t len = 0;
    const uint8_t *body = rmq_message_body(reply, &len);
    if (len >= sizeof t->body) len = sizeof t->body - 1;
    memcpy(t->body, body, len);
    t->body[len] = '\0';
    snprintf(t->topic, sizeof t->topic, "%s", rmq_message_topic(reply));
  }
  pthread_mutex_unlock(&t->lock);
}

static rmq_message *request_message(const char *topic, const char *body) {
  rmq_message *message = rmq_message_new();
  CHECK_RC(rmq_message_set_topic(message, topic), RMQ_RESULT_OK);
  CHECK_RC(rmq_message_set_tags(message, "Req"), RMQ_RESULT_OK);
  CHECK_RC(rmq_message_set_body(message, (const uint8_t *)body, strlen(body)), RMQ_RESULT_OK);
  return message;
}

static void requests_get_the_java_responders_replies(void) {
  char topic[128], command[512];
  snprintf(topic, sizeof topic, "CTest_Request_%s", run_name);
  create_topic(topic, 2);
  snprintf(command, sizeof command, "'%s' reply-responder '%s' --count 2 --timeout-ms 120000",
           launcher, topic);
  FILE *responder = popen(command, "r");
  CHECK(responder != NULL);
  if (!responder) return;
  char line[1024] = "";
  CHECK(fgets(line, sizeof line, responder) != NULL && strstr(line, "ready") != NULL);

  rmq_producer *p = producer_for("request", "thread");
  rmq_message *message = request_message(topic, "ping sync");
  rmq_message *reply = NULL;
  CHECK_RC(rmq_producer_request(p, message, 30000, &reply), RMQ_RESULT_OK);
  if (reply) {
    size_t len = 0;
    const uint8_t *body = rmq_message_body(reply, &len);
    CHECK(len == strlen("reply:ping sync") && memcmp(body, "reply:ping sync", len) == 0);
    CHECK_STR(rmq_message_topic(reply), "DefaultCluster_REPLY_TOPIC");
  }
  rmq_message_free(reply);
  rmq_message_free(message);

  reply_tally t = {PTHREAD_MUTEX_INITIALIZER, 0, RMQ_RESULT_INTERNAL, "", "", 0, 0};
  message = request_message(topic, "ping async");
  CHECK_RC(rmq_producer_request_async(p, message, 30000, on_reply, &t), RMQ_RESULT_OK);
  rmq_message_free(message);
  CHECK_RC(rmq_producer_flush(p, 60000), RMQ_RESULT_OK);
  CHECK(t.calls == 1 && t.result == RMQ_RESULT_OK && !t.reply_null && t.error_null);
  CHECK_STR(t.body, "reply:ping async");
  CHECK_STR(t.topic, "DefaultCluster_REPLY_TOPIC");

  /* Nobody answers on another topic: TIMEOUT, sync and async. */
  char silent[128];
  snprintf(silent, sizeof silent, "CTest_Unanswered_%s", run_name);
  message = request_message(silent, "hello?");
  reply = NULL;
  double started = now_ms();
  CHECK_RC(rmq_producer_request(p, message, 1500, &reply), RMQ_RESULT_TIMEOUT);
  CHECK(reply == NULL);
  CHECK(now_ms() - started >= 1400);
  reply_tally late = {PTHREAD_MUTEX_INITIALIZER, 0, RMQ_RESULT_OK, "", "", 0, 0};
  CHECK_RC(rmq_producer_request_async(p, message, 1500, on_reply, &late), RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_flush(p, 60000), RMQ_RESULT_OK);
  CHECK(late.calls == 1 && late.result == RMQ_RESULT_TIMEOUT && late.reply_null &&
        !late.error_null);
  CHECK_RC(rmq_producer_request(p, message, 0, &reply), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_request_async(p, message, 1000, NULL, NULL), RMQ_RESULT_INVALID_ARGUMENT);
  rmq_message_free(message);
  rmq_producer_free(p);

  int replied = 0;
  while (fgets(line, sizeof line, responder)) {
    if (strstr(line, "\"replied\"") && strstr(line, "SEND_OK")) replied++;
  }
  CHECK(pclose(responder) == 0);
  CHECK(replied == 2);
}

/* ------------------------------------------------------------------------------------------ */
/* 3. Transactions                                                                            */

enum { TX_CASES = 4, TX_CHECKS = 32 };

typedef struct {
  pthread_mutex_t lock;
  char checked[TX_CHECKS][64]; /* msg ids the broker asked about */
  int checks, on_main_thread, tags_seen;
  int local_on_main_thread, local_calls;
} tx_state;

static tx_state tx = {PTHREAD_MUTEX_INITIALIZER, {{0}}, 0, 0, 0, 0, 0};

/* The check-back: commits "unknown then commit", rolls back the rest. */
static int32_t check_transaction(void *userdata, const rmq_transaction_check *check) {
  tx_state *s = userdata;
  const rmq_message *message = rmq_transaction_check_message(check);
  size_t len = 0;
  const uint8_t *body = rmq_message_body(message, &len);
  int commit = len == strlen("unknown then commit") &&
               memcmp(body, "unknown then commit", len) == 0;
  pthread_mutex_lock(&s->lock);
  if (s->checks < TX_CHECKS)
    snprintf(s->checked[s->checks], sizeof s->checked[0], "%s",
             rmq_transaction_check_msg_id(check));
  s->checks++;
  s->on_main_thread += pthread_equal(pthread_self(), main_thread);
  s->tags_seen += rmq_message_tags(message) && strcmp(rmq_message_tags(message), "TagA") == 0;
  pthread_mutex_unlock(&s->lock);
  CHECK(rmq_transaction_check_times(check) >= 0);
  CHECK(rmq_transaction_check_born_timestamp(check) > 0);
  return commit ? RMQ_TRANSACTION_STATE_COMMIT : RMQ_TRANSACTION_STATE_ROLLBACK;
}

/* The local transaction returns what the userdata says (99 is no state: counts as unknown). */
static int32_t local_transaction(void *userdata, const rmq_message *message,
                                 const rmq_send_result *half) {
  (void)message;
  pthread_mutex_lock(&tx.lock);
  tx.local_calls++;
  tx.local_on_main_thread += pthread_equal(pthread_self(), main_thread);
  pthread_mutex_unlock(&tx.lock);
  CHECK(rmq_send_result_status(half) == RMQ_SEND_STATUS_SEND_OK);
  return *(const int32_t *)userdata;
}

static int was_checked(const char *msg_id) {
  int found = 0;
  pthread_mutex_lock(&tx.lock);
  for (int i = 0; i < TX_CHECKS && i < tx.checks; i++) found |= strcmp(tx.checked[i], msg_id) == 0;
  pthread_mutex_unlock(&tx.lock);
  return found;
}

static void transactions_commit_rollback_and_check_back(void) {
  char topic[128];
  snprintf(topic, sizeof topic, "CTest_Tx_%s", run_name);
  create_topic(topic, 4);
  rmq_config *config = rmq_config_new();
  char group[128], err[256];
  snprintf(group, sizeof group, "CTestGroup_tx_%s", run_name);
  CHECK_RC(rmq_config_set(config, "group", group, err, sizeof err), RMQ_RESULT_OK);
  CHECK_RC(rmq_config_set(config, "namesrv_addr", namesrv, err, sizeof err), RMQ_RESULT_OK);
  rmq_producer *p = NULL;
  CHECK_RC(rmq_producer_new_transactional(config, NULL, NULL, &p, err, sizeof err),
           RMQ_RESULT_INVALID_ARGUMENT);
  CHECK(p == NULL);
  CHECK_RC(rmq_producer_new_transactional(config, check_transaction, &tx, &p, err, sizeof err),
           RMQ_RESULT_OK);
  rmq_config_free(config);
  CHECK_RC(rmq_producer_start(p), RMQ_RESULT_OK);

  const char *bodies[TX_CASES] = {"commit", "rollback", "unknown then commit",
                                  "no state then rollback"};
  const int32_t local_answers[TX_CASES] = {RMQ_TRANSACTION_STATE_COMMIT,
                                           RMQ_TRANSACTION_STATE_ROLLBACK,
                                           RMQ_TRANSACTION_STATE_UNKNOWN, 99};
  const rmq_transaction_state expected_states[TX_CASES] = {
      RMQ_TRANSACTION_STATE_COMMIT, RMQ_TRANSACTION_STATE_ROLLBACK, RMQ_TRANSACTION_STATE_UNKNOWN,
      RMQ_TRANSACTION_STATE_UNKNOWN};
  char ids[TX_CASES][64] = {{0}};
  for (int i = 0; i < TX_CASES; i++) {
    sent_message *m = sent_text("Tx", bodies[i]);
    rmq_message *message = to_message(m);
    rmq_send_result *result = NULL;
    rmq_transaction_state state = (rmq_transaction_state)-1;
    CHECK_RC(rmq_producer_send_in_transaction(p, message, local_transaction,
                                              (void *)&local_answers[i], &result, &state),
             RMQ_RESULT_OK);
    CHECK(state == expected_states[i]);
    if (result) {
      CHECK(rmq_send_result_status(result) == RMQ_SEND_STATUS_SEND_OK);
      snprintf(ids[i], sizeof ids[i], "%s", rmq_send_result_msg_id(result));
      /* Committed (at once, or by the check-back): stored with the commit type in sysFlag. */
      if (i == 0 || i == 2)
        record_stored_with(m, ids[i],
                           "\"sysFlag\":8,\"sysFlagMask\":12,\"mayRepeat\":true,"
                           "\"brokerProps\":[\"__transactionId__\",\"TRANSACTION_CHECK_TIMES\"]");
    }
    rmq_send_result_free(result);
    rmq_message_free(message);
    sent_free(m);
  }
  CHECK(tx.local_calls == TX_CASES && tx.local_on_main_thread == TX_CASES);

  /* The broker asks about the two unknown ones; the check-back settles them. */
  for (int waited = 0; waited < 120 && !(was_checked(ids[2]) && was_checked(ids[3])); waited++)
    sleep_ms(1000);
  CHECK(was_checked(ids[2]) && was_checked(ids[3]));
  CHECK(tx.on_main_thread == 0 && tx.tags_seen == tx.checks);

  /* A plain producer cannot send in a transaction. */
  rmq_producer *plain = producer_for("tx_plain", "thread");
  rmq_message *message = rmq_message_new();
  rmq_send_result *result = NULL;
  rmq_transaction_state state;
  CHECK_RC(rmq_producer_send_in_transaction(plain, message, local_transaction,
                                            (void *)&local_answers[0], &result, &state),
           RMQ_RESULT_ILLEGAL_STATE);
  rmq_message_free(message);
  rmq_producer_free(plain);

  /* Committed ones are visible; rolled-back ones never are (read after their check). */
  sleep_ms(3000);
  char args[256];
  snprintf(args, sizeof args, "read-topic '%s' --expect 2 --timeout-ms 60000", topic);
  char *stored = launcher_output(args);
  CHECK(stored && strstr(stored, ids[0]) && strstr(stored, ids[2]));
  CHECK(stored && !strstr(stored, ids[1]) && !strstr(stored, ids[3]));
  free(stored);
  rmq_producer_free(p);
}

/* ------------------------------------------------------------------------------------------ */
/* 7. Send hooks                                                                              */

typedef struct {
  pthread_mutex_t lock;
  int before, after, stored, failed, on_main_thread, oneway, batch, bad_context;
  int broker_codes; /* failures with a broker response code */
  long max_attempt;
  char last_msg_id[96];
  int ports[8];
  int port_count;
} hook_tally;

static int addr_port(const char *addr) {
  const char *colon = addr ? strrchr(addr, ':') : NULL;
  return colon ? atoi(colon + 1) : -1;
}

static void hook_before(void *userdata, const rmq_send_context *ctx) {
  hook_tally *t = userdata;
  pthread_mutex_lock(&t->lock);
  t->before++;
  t->on_main_thread += pthread_equal(pthread_self(), main_thread);
  if (rmq_send_context_latency_us(ctx) != -1 || rmq_send_context_send_result(ctx) != NULL ||
      rmq_send_context_result(ctx) != RMQ_RESULT_OK)
    t->bad_context++;
  pthread_mutex_unlock(&t->lock);
}

static void hook_after(void *userdata, const rmq_send_context *ctx) {
  hook_tally *t = userdata;
  pthread_mutex_lock(&t->lock);
  t->after++;
  t->on_main_thread += pthread_equal(pthread_self(), main_thread);
  const char *topic = rmq_send_context_topic(ctx);
  if (!topic || strncmp(topic, "CTest_", 6) != 0 || rmq_send_context_queue_id(ctx) < 0 ||
      !rmq_send_context_broker_name(ctx) || !rmq_send_context_group(ctx) ||
      rmq_send_context_latency_us(ctx) <= 0 || rmq_send_context_attempt(ctx) < 0)
    t->bad_context++;
  if (rmq_send_context_attempt(ctx) > t->max_attempt) t->max_attempt = rmq_send_context_attempt(ctx);
  snprintf(t->last_msg_id, sizeof t->last_msg_id, "%s", rmq_send_context_msg_id(ctx));
  t->oneway += rmq_send_context_is_oneway(ctx);
  t->batch += rmq_send_context_is_batch(ctx);
  int port = addr_port(rmq_send_context_broker_addr(ctx));
  int known = 0;
  for (int i = 0; i < t->port_count; i++) known |= t->ports[i] == port;
  if (!known && t->port_count < 8) t->ports[t->port_count++] = port;
  if (rmq_send_context_result(ctx) == RMQ_RESULT_OK) {
    t->stored++;
    const rmq_send_result *r = rmq_send_context_send_result(ctx);
    if (!rmq_send_context_is_oneway(ctx) &&
        (!r || strcmp(rmq_send_result_msg_id(r), rmq_send_context_msg_id(ctx)) != 0))
      t->bad_context++;
  } else {
    t->failed++;
    const rmq_error *e = rmq_send_context_error(ctx);
    if (!e || rmq_error_code(e) != rmq_send_context_result(ctx)) t->bad_context++;
    if (e && rmq_error_response_code(e) > 0) t->broker_codes++;
  }
  pthread_mutex_unlock(&t->lock);
}

static void record_delivery(void *userdata, rmq_result rc, const rmq_send_result *r,
                            const rmq_error *e) {
  (void)e;
  CHECK(rc == RMQ_RESULT_OK);
  if (r) record_stored(userdata, rmq_send_result_msg_id(r));
  sent_free(userdata);
}

static void send_hooks_see_every_attempt(void) {
  rmq_producer *p = producer_with("hooks", "thread", "max_message_size", "8388608");
  hook_tally t = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "", {0}, 0};
  hook_tally second = t;
  CHECK_RC(rmq_producer_add_send_hook(p, hook_before, hook_after, &t), RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_add_send_hook(p, NULL, hook_after, &second), RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_add_send_hook(p, NULL, NULL, &t), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_add_send_hook(NULL, hook_before, NULL, &t), RMQ_RESULT_INVALID_ARGUMENT);

  for (int i = 0; i < 5; i++) {
    sent_message *m = sent_text("Hooks", "sync, seen by hooks");
    rmq_send_result *result = send_sync_ok(p, m);
    if (result) {
      pthread_mutex_lock(&t.lock);
      CHECK_STR(t.last_msg_id, rmq_send_result_msg_id(result));
      pthread_mutex_unlock(&t.lock);
      record_stored(m, rmq_send_result_msg_id(result));
    }
    rmq_send_result_free(result);
    sent_free(m);
  }
  for (int i = 0; i < 5; i++) {
    sent_message *m = sent_text("Hooks", "async, seen by hooks");
    rmq_message *message = to_message(m);
    CHECK_RC(rmq_producer_send_async(p, message, record_delivery, m), RMQ_RESULT_OK);
    rmq_message_free(message);
  }
  CHECK_RC(rmq_producer_flush(p, 60000), RMQ_RESULT_OK);
  sent_message *m = sent_text("Hooks", "oneway");
  rmq_message *message = to_message(m);
  CHECK_RC(rmq_producer_send_oneway(p, message), RMQ_RESULT_OK);
  rmq_message_free(message);
  record_stored(m, NULL);
  sent_free(m);
  rmq_batch *batch = rmq_batch_new();
  m = sent_text("Hooks", "in a batch");
  message = to_message(m);
  rmq_batch_add(batch, message);
  rmq_message_free(message);
  rmq_send_result *result = NULL;
  CHECK_RC(rmq_producer_send_batch_sync(p, batch, &result), RMQ_RESULT_OK);
  if (result) record_stored(m, rmq_send_result_msg_id_at(result, 0));
  rmq_send_result_free(result);
  rmq_batch_free(batch);
  sent_free(m);

  /* The broker refuses a body over its 4 MiB limit: the after hook sees the failure. */
  size_t len = 5 << 20;
  uint8_t *body = malloc(len);
  for (size_t i = 0; i < len; i++) body[i] = (uint8_t)(rand() & 0xff);
  message = rmq_message_new();
  char topic[128];
  snprintf(topic, sizeof topic, "CTest_HooksTooBig_%s", run_name);
  rmq_message_set_topic(message, topic);
  rmq_message_set_body(message, body, len);
  free(body);
  result = NULL;
  CHECK_RC(rmq_producer_send_sync(p, message, &result), RMQ_RESULT_BROKER);
  rmq_message_free(message);
  rmq_producer_free(p);

  CHECK(t.before == t.after && t.after >= 13);
  CHECK(t.stored == 12 && t.failed == t.after - 12 && t.broker_codes == t.failed);
  CHECK(t.oneway == 1 && t.batch == 1);
  CHECK(t.on_main_thread == 0 && t.bad_context == 0);
  CHECK(second.after == t.after && second.before == 0);
}

/* ------------------------------------------------------------------------------------------ */
/* 5. Delay levels and timer messages                                                         */

/* The brokers' RocketMQ version as they report it (e.g. "V4_9_7"), into out. */
static void broker_version(char *out, size_t len) {
  char *info = launcher_output("broker-info");
  json_text(info, "version", out, len);
  free(info);
}

static void delayed_and_timer_messages_are_stored_when_due(void) {
  rmq_producer *p = producer_for("delay", "thread");
  char version[32];
  broker_version(version, sizeof version);
  /* 4.x has delay levels only: what its users see of a timer message is that it is stored at once. */
  int timers = strncmp(version, "V4_", 3) != 0;
  if (!timers) fprintf(stderr, "        timer messages: not in RocketMQ %s, stored at once\n", version);
  struct {
    int level;
    long timer_in_ms;
    long min_delay_ms;
  } cases[] = {{1, 0, 900}, {2, 0, 4900}, {0, 4000, 3000}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    sent_message *m = sent_text("Delayed", cases[i].level ? "delay level" : "timer");
    rmq_message *message = to_message(m);
    if (cases[i].level) CHECK_RC(rmq_message_set_delay_level(message, cases[i].level), RMQ_RESULT_OK);
    if (cases[i].timer_in_ms)
      CHECK_RC(rmq_message_set_deliver_time_ms(message, (int64_t)now_ms() + cases[i].timer_in_ms),
               RMQ_RESULT_OK);
    rmq_send_result *result = NULL;
    CHECK_RC(rmq_producer_send_sync(p, message, &result), RMQ_RESULT_OK);
    if (result) {
      char extra[96];
      /* 4.9's reader does not know TIMER_DELIVER_MS as a system property: it lists it as a user one. */
      if (cases[i].timer_in_ms && !timers)
        snprintf(extra, sizeof extra, "\"maxStoreDelayMs\":%ld,\"brokerProps\":[\"TIMER_DELIVER_MS\"]",
                 cases[i].timer_in_ms / 2);
      else
        snprintf(extra, sizeof extra, "\"minStoreDelayMs\":%ld", cases[i].min_delay_ms);
      record_stored_with(m, rmq_send_result_msg_id(result), extra);
    }
    rmq_send_result_free(result);
    rmq_message_free(message);
    sent_free(m);
  }
  rmq_producer_free(p);
}

/* Sends a timer message due in `due_in_ms`; its result, or NULL (and a failure). */
static rmq_send_result *send_timer(rmq_producer *p, const sent_message *m, long due_in_ms) {
  rmq_message *message = to_message(m);
  CHECK_RC(rmq_message_set_deliver_time_ms(message, (int64_t)now_ms() + due_in_ms), RMQ_RESULT_OK);
  rmq_send_result *result = NULL;
  CHECK_RC(rmq_producer_send_sync(p, message, &result), RMQ_RESULT_OK);
  rmq_message_free(message);
  return result;
}

/* The last error is the broker's code 604 with `remark`. */
static void check_refused_with_604(rmq_result rc, const char *remark) {
  CHECK_RC(rc, RMQ_RESULT_BROKER);
  CHECK(rmq_last_error_response_code() == 604);
  char text[256] = "";
  rmq_last_error_remark(text, sizeof text);
  CHECK_STR(text, remark);
}

/* Recalls the second of three timer messages, checks the refusals and bad arguments, and records
 * what must be stored. */
static void recall_and_refusals(rmq_producer *p, const char *other_topic, double sent_at,
                                const sent_message *late, const rmq_send_result *late_result,
                                const sent_message *recalled,
                                const rmq_send_result *recalled_result, const sent_message *kept,
                                const rmq_send_result *kept_result) {
  const char *handle = rmq_send_result_recall_handle(recalled_result);
  char msg_id[64] = "untouched";
  CHECK_RC(rmq_producer_recall(p, recalled->topic, handle, msg_id, sizeof msg_id), RMQ_RESULT_OK);
  CHECK_STR(msg_id, rmq_send_result_msg_id(recalled_result));
  /* Another topic's handle: the broker refuses it; the buffer is written only on success. */
  snprintf(msg_id, sizeof msg_id, "untouched");
  const char *kept_handle = rmq_send_result_recall_handle(kept_result);
  check_refused_with_604(rmq_producer_recall(p, other_topic, kept_handle, msg_id, sizeof msg_id),
                         "recall failed, topic not match");
  CHECK_STR(msg_id, "untouched");
  CHECK_RC(rmq_producer_recall(p, recalled->topic, "garbage!", msg_id, sizeof msg_id),
           RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_recall(p, recalled->topic, "", NULL, 0), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_recall(p, recalled->topic, NULL, NULL, 0), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_recall(p, NULL, handle, NULL, 0), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_recall(p, "", handle, NULL, 0), RMQ_RESULT_INVALID_TOPIC);
  CHECK_RC(rmq_producer_recall(NULL, recalled->topic, handle, NULL, 0),
           RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_STR(msg_id, "untouched");

  /* Neither a normal message nor a delay level gets a handle. */
  sent_message *normal = sent_text("Recall", "normal");
  sent_message *level = sent_text("Recall", "delay level 1");
  rmq_message *message = to_message(normal);
  rmq_send_result *result = NULL;
  CHECK_RC(rmq_producer_send_sync(p, message, &result), RMQ_RESULT_OK);
  if (result) {
    CHECK(rmq_send_result_recall_handle(result) == NULL);
    record_stored(normal, rmq_send_result_msg_id(result));
  }
  rmq_send_result_free(result);
  rmq_message_free(message);
  message = to_message(level);
  CHECK_RC(rmq_message_set_delay_level(message, 1), RMQ_RESULT_OK);
  result = NULL;
  CHECK_RC(rmq_producer_send_sync(p, message, &result), RMQ_RESULT_OK);
  if (result) {
    CHECK(rmq_send_result_recall_handle(result) == NULL);
    record_stored_with(level, rmq_send_result_msg_id(result), "\"minStoreDelayMs\":900");
  }
  rmq_send_result_free(result);
  rmq_message_free(message);
  sent_free(normal);
  sent_free(level);

  /* Past the first message's due time (and the second of timer precision), its handle is stale. */
  double wait_ms = sent_at + 3500 - now_ms();
  if (wait_ms > 0) sleep_ms((long)wait_ms);
  check_refused_with_604(
      rmq_producer_recall(p, late->topic, rmq_send_result_recall_handle(late_result), NULL, 0),
      "recall failed, timestamp invalid");
  record_stored_with(late, rmq_send_result_msg_id(late_result), "\"minStoreDelayMs\":1000");
  record_stored_with(kept, rmq_send_result_msg_id(kept_result), "\"minStoreDelayMs\":5000");
}

/* A recalled timer message is never stored in its topic (readback.py fails on a stored message the
 * manifest does not list); the broker's refusals and bad arguments fail the call. */
static void recall_cancels_a_timer_message_before_it_is_due(void) {
  char version[32];
  broker_version(version, sizeof version);
  if (strncmp(version, "V4_", 3) == 0) {
    fprintf(stderr, "        recall: not in RocketMQ %s\n", version);
    return;
  }
  char other_topic[128];
  snprintf(other_topic, sizeof other_topic, "CTest_RecallOther_%s", run_name);
  create_topic(other_topic, 2);
  rmq_producer *p = producer_for("recall", "thread");
  /* The recalled message is due before the kept one: once the kept one is stored, the recalled
   * one would have been too. */
  sent_message *late = sent_text("Recall", "due in 2 s, recalled too late");
  sent_message *recalled = sent_text("Recall", "due in 5 s, recalled");
  sent_message *kept = sent_text("Recall", "due in 6 s, kept");
  double sent_at = now_ms();
  rmq_send_result *late_result = send_timer(p, late, 2000);
  rmq_send_result *recalled_result = send_timer(p, recalled, 5000);
  rmq_send_result *kept_result = send_timer(p, kept, 6000);
  int handles = rmq_send_result_recall_handle(late_result) != NULL &&
                rmq_send_result_recall_handle(recalled_result) != NULL &&
                rmq_send_result_recall_handle(kept_result) != NULL;
  CHECK(handles);
  if (handles)
    recall_and_refusals(p, other_topic, sent_at, late, late_result, recalled, recalled_result, kept,
                        kept_result);
  rmq_send_result_free(late_result);
  rmq_send_result_free(recalled_result);
  rmq_send_result_free(kept_result);
  sent_free(late);
  sent_free(recalled);
  sent_free(kept);
  rmq_producer_free(p);
}

/* ------------------------------------------------------------------------------------------ */
/* 6. Namespace, VIP channel, ACL and TLS                                                     */

static void namespaces_prefix_the_stored_topic(void) {
  rmq_producer *p = producer_with("namespace", "thread", "namespace", "cns");
  sent_message *m = sent_text("Namespaced", "in a namespace");
  rmq_send_result *result = send_sync_ok(p, m);
  if (result) {
    CHECK_STR(rmq_send_result_topic(result), m->topic);
    /* The store has it under <namespace>%<topic>. */
    memmove(m->topic + 4, m->topic, sizeof m->topic - 4);
    memcpy(m->topic, "cns%", 4);
    m->topic[sizeof m->topic - 1] = '\0';
    record_stored(m, rmq_send_result_msg_id(result));
  }
  rmq_send_result_free(result);
  sent_free(m);
  rmq_producer_free(p);
}

static void vip_channel_sends_go_to_the_listen_port_minus_two(void) {
  rmq_producer *p = producer_with("vip", "thread", "vip_channel_enabled", "true");
  hook_tally t = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "", {0}, 0};
  CHECK_RC(rmq_producer_add_send_hook(p, NULL, hook_after, &t), RMQ_RESULT_OK);
  for (int i = 0; i < 10; i++) {
    sent_message *m = sent_text("Vip", "through the VIP channel");
    rmq_send_result *result = send_sync_ok(p, m);
    if (result) record_stored(m, rmq_send_result_msg_id(result));
    rmq_send_result_free(result);
    sent_free(m);
  }
  rmq_producer_free(p);
  /* The launcher's brokers listen on base+100 and base+200; their VIP ports are 2 lower. */
  int base = addr_port(namesrv);
  CHECK(t.stored == 10 && t.port_count >= 1);
  for (int i = 0; i < t.port_count; i++) CHECK(t.ports[i] == base + 98 || t.ports[i] == base + 198);
}

static rmq_producer *secure_producer(const char *group_case, const char *secret, const char *tls) {
  rmq_config *config = rmq_config_new();
  char group[128], err[256];
  snprintf(group, sizeof group, "CTestGroup_%s_%s", group_case, run_name);
  const char *settings[][2] = {
      {"group", group},
      {"namesrv_addr", getenv("RMQ_SECURE_NAMESRV_ADDR")},
      /* Generous: TLS handshakes are slow under valgrind. */
      {"send_timeout_ms", "20000"},
      {"client_api_timeout_ms", "20000"},
      {"access_key", getenv("RMQ_SECURE_ACCESS_KEY")},
      {"secret_key", secret},
      {"tls", tls},
      {"tls_verify", "false"},
      /* Producers of one instance share connections: each security setting gets its own. */
      {"instance_name", group_case},
      {"retry_times", "0"},
  };
  for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
    CHECK_RC(rmq_config_set(config, settings[i][0], settings[i][1], err, sizeof err),
             RMQ_RESULT_OK);
  rmq_producer *p = NULL;
  CHECK_RC(rmq_producer_new(config, &p, err, sizeof err), RMQ_RESULT_OK);
  rmq_config_free(config);
  CHECK_RC(rmq_producer_start(p), RMQ_RESULT_OK);
  return p;
}

static void acl_and_tls_against_the_secure_cluster(void) {
  const char *addr = getenv("RMQ_SECURE_NAMESRV_ADDR"), *base = getenv("RMQ_SECURE_PORT_BASE");
  const char *secret = getenv("RMQ_SECURE_SECRET_KEY");
  if (!addr || !base || !secret || !getenv("RMQ_SECURE_ACCESS_KEY")) {
    fprintf(stderr, "        skipped: RMQ_SECURE_NAMESRV_ADDR, _PORT_BASE, _ACCESS_KEY and "
                    "_SECRET_KEY are not all set (make test starts a secure cluster)\n");
    return;
  }
  /* Signed, over TLS: stored (read back from the secure cluster). */
  rmq_producer *p = secure_producer("secure", secret, "true");
  char extra[64];
  snprintf(extra, sizeof extra, "\"portBase\":%s", base);
  for (int i = 0; i < 3; i++) {
    sent_message *m = sent_text("Secure", "signed, over TLS");
    rmq_send_result *result = send_sync_ok(p, m);
    if (result) record_stored_with(m, rmq_send_result_msg_id(result), extra);
    rmq_send_result_free(result);
    sent_free(m);
  }
  rmq_producer_free(p);

  /* A wrong secret: the broker refuses with response code 16. */
  p = secure_producer("secure_wrong", "not-the-secret", "true");
  sent_message *m = sent_text("Secure", "wrongly signed");
  rmq_message *message = to_message(m);
  rmq_send_result *result = NULL;
  CHECK_RC(rmq_producer_send_sync(p, message, &result), RMQ_RESULT_BROKER);
  CHECK(rmq_last_error_response_code() == 16);
  rmq_producer_free(p);
  rmq_message_free(message);
  sent_free(m);

  /* Plain TCP to TLS brokers: an error, in time. (Its own topic: the broker has been seen to
   * store such a message although it closes the connection before answering.) */
  p = secure_producer("secure_plain", secret, "false");
  m = sent_text("SecurePlain", "in the clear");
  message = to_message(m);
  double started = now_ms();
  rmq_result rc = rmq_producer_send_sync(p, message, &result);
  CHECK(rc == RMQ_RESULT_NETWORK && result == NULL);
  CHECK(now_ms() - started < 20000 + 3000);
  rmq_message_free(message);
  sent_free(m);
  rmq_producer_free(p);
}

/* ------------------------------------------------------------------------------------------ */
/* 7. Async backpressure, 8. compression                                                      */

typedef struct {
  pthread_mutex_t lock;
  int calls, ok, too_many, other;
  int refused; /* sends that returned TOO_MANY_REQUESTS (and never call back) */
} pressure_tally;

static void on_pressure(void *userdata, rmq_result rc, const rmq_send_result *r,
                        const rmq_error *e) {
  (void)e;
  void **pair = userdata;
  pressure_tally *t = pair[0];
  sent_message *m = pair[1];
  pthread_mutex_lock(&t->lock);
  t->calls++;
  if (rc == RMQ_RESULT_OK) {
    t->ok++;
    record_stored(m, rmq_send_result_msg_id(r));
  } else if (rc == RMQ_RESULT_TOO_MANY_REQUESTS) {
    t->too_many++;
  } else {
    t->other++;
  }
  pthread_mutex_unlock(&t->lock);
  sent_free(m);
  free(pair);
}

static void send_async_burst(rmq_producer *p, pressure_tally *t, const char *topic_case, int n) {
  for (int i = 0; i < n; i++) {
    void **pair = malloc(2 * sizeof *pair);
    pair[0] = t;
    pair[1] = sent_text(topic_case, "async under backpressure");
    rmq_message *message = to_message(pair[1]);
    rmq_result rc = rmq_producer_send_async(p, message, on_pressure, pair);
    if (rc == RMQ_RESULT_TOO_MANY_REQUESTS) {
      t->refused++;
      sent_free(pair[1]);
      free(pair);
    } else {
      CHECK_RC(rc, RMQ_RESULT_OK);
    }
    rmq_message_free(message);
  }
  CHECK_RC(rmq_producer_flush(p, 60000), RMQ_RESULT_OK);
}

static void async_backpressure_fails_or_blocks_when_full(void) {
  /* fail: beyond the bound (one send, or 64 body bytes, in flight) a send is refused at once with
   * TOO_MANY_REQUESTS and never calls back; block: the caller waits for room and every send is
   * stored. */
  char err[256];
  const char *fail[][2] = {{"max_async_in_flight", "1"}, {"backpressure", "fail"}};
  const char *bytes[][2] = {{"max_async_in_flight_bytes", "64"}, {"backpressure", "fail"}};
  const char *block[][2] = {{"max_async_in_flight", "2"}, {"backpressure", "block"}};
  const char *(*modes[])[2] = {fail, bytes, block};
  const char *cases[] = {"PressureFail", "PressureBytes", "PressureBlock"};
  for (int mode = 0; mode < 3; mode++) {
    rmq_config *c = rmq_config_new();
    char group[128];
    snprintf(group, sizeof group, "CTestGroup_pressure_%d_%s", mode, run_name);
    CHECK_RC(rmq_config_set(c, "group", group, err, sizeof err), RMQ_RESULT_OK);
    CHECK_RC(rmq_config_set(c, "namesrv_addr", namesrv, err, sizeof err), RMQ_RESULT_OK);
    for (int k = 0; k < 2; k++)
      CHECK_RC(rmq_config_set(c, modes[mode][k][0], modes[mode][k][1], err, sizeof err),
               RMQ_RESULT_OK);
    rmq_producer *producer = NULL;
    CHECK_RC(rmq_producer_new(c, &producer, err, sizeof err), RMQ_RESULT_OK);
    rmq_config_free(c);
    CHECK_RC(rmq_producer_start(producer), RMQ_RESULT_OK);
    /* Warm the route so that the burst is not all waiting for it. */
    sent_message *warm = sent_text(cases[mode], "warm-up");
    rmq_send_result *result = send_sync_ok(producer, warm);
    if (result) record_stored(warm, rmq_send_result_msg_id(result));
    rmq_send_result_free(result);
    sent_free(warm);
    pressure_tally t = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0};
    send_async_burst(producer, &t, cases[mode], 30);
    CHECK(t.calls + t.refused == 30 && t.other == 0 && t.too_many == 0);
    if (mode < 2) {
      CHECK(t.ok >= 1 && t.refused >= 1);
    } else {
      CHECK(t.ok == 30 && t.refused == 0);
    }
    rmq_producer_free(producer);
  }
}

static void compression_types_read_back_decompressed(void) {
  const char *types[] = {"zlib", "lz4", "zstd"};
  const int flags[] = {0x301, 0x101, 0x201};
  size_t len = 64 * 1024;
  uint8_t *body = malloc(len);
  const char *pattern = "compressible rocketmq body ";
  for (size_t i = 0; i < len; i++) body[i] = (uint8_t)(pattern[i % 27] ^ (i / 4096));
  for (int i = 0; i < 3; i++) {
    char group_case[32];
    snprintf(group_case, sizeof group_case, "compress_%s", types[i]);
    rmq_producer *p = producer_with(group_case, "thread", "compress_type", types[i]);
    sent_message *m = sent_new("Compressed", body, len);
    rmq_send_result *result = send_sync_ok(p, m);
    if (result) {
      char extra[64];
      snprintf(extra, sizeof extra, "\"sysFlag\":%d,\"sysFlagMask\":1793", flags[i]);
      record_stored_with(m, rmq_send_result_msg_id(result), extra);
    }
    rmq_send_result_free(result);
    sent_free(m);
    rmq_producer_free(p);
  }
  free(body);
}

/* ------------------------------------------------------------------------------------------ */
/* 9. A route with no writable queue                                                          */

typedef struct {
  pthread_mutex_t lock;
  int calls;
  rmq_result rc;
  double called_ms;
  char message[512];
} drained_tally;

static void drained_record(drained_tally *t, rmq_result rc, const char *message) {
  pthread_mutex_lock(&t->lock);
  t->calls++;
  t->rc = rc;
  t->called_ms = now_ms();
  snprintf(t->message, sizeof t->message, "%s", message ? message : "");
  pthread_mutex_unlock(&t->lock);
}

static void on_drained_delivery(void *userdata, rmq_result rc, const rmq_send_result *r,
                                const rmq_error *e) {
  (void)r;
  drained_record(userdata, rc, rmq_error_message(e));
}

static void on_drained_reply(void *userdata, rmq_result rc, const rmq_message *reply,
                             const rmq_error *e) {
  (void)reply;
  drained_record(userdata, rc, rmq_error_message(e));
}

static int32_t drained_selector(void *userdata, const rmq_queue_list *queues,
                                const rmq_message *message) {
  (void)userdata;
  (void)message;
  return (int32_t)rmq_queue_list_len(queues) - 1;
}

static int32_t drained_local(void *userdata, const rmq_message *message,
                             const rmq_send_result *half) {
  (void)message;
  (void)half;
  (*(int *)userdata)++;
  return RMQ_TRANSACTION_STATE_COMMIT;
}

static int32_t drained_check(void *userdata, const rmq_transaction_check *check) {
  (void)userdata;
  (void)check;
  return RMQ_TRANSACTION_STATE_ROLLBACK;
}

/* The route shows the topic read only on every broker (perm 4, no write bit). */
static int route_is_read_only(const char *topic) {
  char args[256];
  snprintf(args, sizeof args, "route '%s'", topic);
  char *route = launcher_output(args);
  int read_only = route && strstr(route, "\"perm\": 4") && !strstr(route, "\"perm\": 6") &&
                  !strstr(route, "\"perm\": 2") && !strstr(route, "\"perm\": 7");
  free(route);
  return read_only;
}

/* Checks that a form failed at once with NO_ROUTE naming the topic and the missing write. */
static void check_no_route(const char *form, rmq_result rc, const char *message,
                           const char *topic, double took) {
  fprintf(stderr, "  %-34s rc=%d %.1f ms %s\n", form, (int)rc, took, message);
  CHECK(rc == RMQ_RESULT_NO_ROUTE);
  CHECK(strstr(message, topic) != NULL);
  CHECK(strstr(message, "writable") != NULL);
  CHECK(took < 5000); /* at once, nowhere near the 10 s send timeout */
}

static void check_last_error_no_route(const char *form, rmq_result rc, const char *topic,
                                      double began) {
  char message[512];
  rmq_last_error_message(message, sizeof message);
  check_no_route(form, rc, message, topic, now_ms() - began);
}

/* Waits for the one call of a callback form, and checks there is no second. */
static void check_drained_callback(const char *form, drained_tally *t, const char *topic,
                                   double began) {
  for (int i = 0; i < 200; i++) {
    pthread_mutex_lock(&t->lock);
    int calls = t->calls;
    pthread_mutex_unlock(&t->lock);
    if (calls) break;
    sleep_ms(25);
  }
  sleep_ms(100);
  pthread_mutex_lock(&t->lock);
  CHECK(t->calls == 1);
  if (t->calls == 0) fprintf(stderr, "  %s: the callback was never called\n", form);
  int calls = t->calls;
  rmq_result rc = t->rc;
  double took = t->called_ms - began;
  char message[512];
  snprintf(message, sizeof message, "%s", t->message);
  pthread_mutex_unlock(&t->lock);
  if (calls) check_no_route(form, rc, message, topic, took);
}

static void drained_topic_fails_every_form_with_no_route(void) {
  /* A topic drained on every broker (updateTopic -p 4, read only): the route has no writable
   * queue, and every send form fails at once with NO_ROUTE, each callback exactly once. */
  char topic[128], args[512];
  snprintf(topic, sizeof topic, "CTest_Drained_%s", run_name);
  create_topic(topic, 4);
  snprintf(args, sizeof args, "admin updateTopic -t '%s' -c DefaultCluster -r 4 -w 4 -p 4", topic);
  free(launcher_output(args));
  int read_only = 0;
  for (int i = 0; i < 100 && !(read_only = route_is_read_only(topic)); i++) sleep_ms(300);
  CHECK(read_only);

  rmq_producer *p = producer_for("drained", "thread");
  rmq_message *message = rmq_message_new();
  CHECK_RC(rmq_message_set_topic(message, topic), RMQ_RESULT_OK);
  CHECK_RC(rmq_message_set_body(message, (const uint8_t *)"drained", 7), RMQ_RESULT_OK);
  rmq_batch *batch = rmq_batch_new();
  CHECK_RC(rmq_batch_add(batch, message), RMQ_RESULT_OK);
  CHECK_RC(rmq_batch_add(batch, message), RMQ_RESULT_OK);
  rmq_message_queue *queue = NULL;
  CHECK_RC(rmq_message_queue_new(topic, "broker-a", 0, &queue), RMQ_RESULT_OK);
  rmq_send_result *result = NULL;
  rmq_queue_list *queues = NULL;
  rmq_message *reply = NULL;
  double began;

  began = now_ms();
  check_last_error_no_route("send_sync", rmq_producer_send_sync(p, message, &result), topic,
                            began);
  began = now_ms();
  check_last_error_no_route("send_oneway", rmq_producer_send_oneway(p, message), topic, began);
  began = now_ms();
  check_last_error_no_route("send_batch_sync", rmq_producer_send_batch_sync(p, batch, &result),
                            topic, began);
  began = now_ms();
  check_last_error_no_route("publish_queues", rmq_producer_publish_queues(p, topic, &queues),
                            topic, began);
  began = now_ms();
  check_last_error_no_route("send_to_queue",
                            rmq_producer_send_to_queue(p, message, queue, &result), topic, began);
  began = now_ms();
  check_last_error_no_route("send_with_sharding_key",
                            rmq_producer_send_with_sharding_key(p, message, "order-1", &result),
                            topic, began);
  began = now_ms();
  check_last_error_no_route(
      "send_with_selector",
      rmq_producer_send_with_selector(p, message, drained_selector, NULL, &result), topic, began);
  began = now_ms();
  check_last_error_no_route("request", rmq_producer_request(p, message, 10000, &reply), topic,
                            began);
  CHECK(result == NULL && queues == NULL && reply == NULL);

  drained_tally tallies[5];
  for (int i = 0; i < 5; i++) {
    memset(&tallies[i], 0, sizeof tallies[i]);
    pthread_mutex_init(&tallies[i].lock, NULL);
  }
  began = now_ms();
  CHECK_RC(rmq_producer_send_async(p, message, on_drained_delivery, &tallies[0]), RMQ_RESULT_OK);
  check_drained_callback("send_async", &tallies[0], topic, began);
  began = now_ms();
  CHECK_RC(rmq_producer_send_batch_async(p, batch, on_drained_delivery, &tallies[1]),
           RMQ_RESULT_OK);
  check_drained_callback("send_batch_async", &tallies[1], topic, began);
  began = now_ms();
  CHECK_RC(rmq_producer_send_to_queue_async(p, message, queue, on_drained_delivery, &tallies[2]),
           RMQ_RESULT_OK);
  check_drained_callback("send_to_queue_async", &tallies[2], topic, began);
  began = now_ms();
  CHECK_RC(rmq_producer_send_with_sharding_key_async(p, message, "order-1", on_drained_delivery,
                                                     &tallies[3]),
           RMQ_RESULT_OK);
  check_drained_callback("send_with_sharding_key_async", &tallies[3], topic, began);
  began = now_ms();
  CHECK_RC(rmq_producer_request_async(p, message, 10000, on_drained_reply, &tallies[4]),
           RMQ_RESULT_OK);
  check_drained_callback("request_async", &tallies[4], topic, began);
  CHECK_RC(rmq_producer_flush(p, 10000), RMQ_RESULT_OK);
  rmq_producer_free(p);
  for (int i = 0; i < 5; i++) pthread_mutex_destroy(&tallies[i].lock);

  rmq_config *config = rmq_config_new();
  char group[128], err[256];
  snprintf(group, sizeof group, "CTestGroup_drained_tx_%s", run_name);
  CHECK_RC(rmq_config_set(config, "group", group, err, sizeof err), RMQ_RESULT_OK);
  CHECK_RC(rmq_config_set(config, "namesrv_addr", namesrv, err, sizeof err), RMQ_RESULT_OK);
  rmq_producer *tx_producer = NULL;
  CHECK_RC(rmq_producer_new_transactional(config, drained_check, NULL, &tx_producer, err,
                                          sizeof err),
           RMQ_RESULT_OK);
  rmq_config_free(config);
  CHECK_RC(rmq_producer_start(tx_producer), RMQ_RESULT_OK);
  int local_calls = 0;
  rmq_transaction_state state = RMQ_TRANSACTION_STATE_UNKNOWN;
  began = now_ms();
  check_last_error_no_route("send_in_transaction",
                            rmq_producer_send_in_transaction(tx_producer, message, drained_local,
                                                             &local_calls, &result, &state),
                            topic, began);
  CHECK(local_calls == 0 && result == NULL);
  rmq_producer_free(tx_producer);

  rmq_message_queue_free(queue);
  rmq_batch_free(batch);
  rmq_message_free(message);
}

/* ------------------------------------------------------------------------------------------ */
/* 10. A timeout per send                                                                      */

enum { OWN_TIMEOUT_MS = 1500, OWN_TIMEOUT_MARGIN_MS = 5000 };

static void check_own_timeout(const char *form, rmq_result rc, double took_ms) {
  if (rc != RMQ_RESULT_TIMEOUT || took_ms < OWN_TIMEOUT_MS ||
      took_ms >= OWN_TIMEOUT_MS + OWN_TIMEOUT_MARGIN_MS)
    fprintf(stderr, "  %s: %s after %.0f ms\n", form, rmq_result_name(rc), took_ms);
  CHECK(rc == RMQ_RESULT_TIMEOUT);
  CHECK(took_ms >= OWN_TIMEOUT_MS && took_ms < OWN_TIMEOUT_MS + OWN_TIMEOUT_MARGIN_MS);
}

/* With broker-b hung (SIGSTOP) and a topic only it serves, a message's own send timeout ends each
 * send of it, sync, async and batch, with RMQ_RESULT_TIMEOUT: not the producer's 10 s. */
static void a_message_s_own_timeout_ends_its_sends_on_a_hung_broker(void) {
  char topic[128], args[256];
  snprintf(topic, sizeof topic, "CTest_OwnTimeout_%s", run_name);
  snprintf(args, sizeof args, "create-topic '%s' --queues 2 --on broker-b", topic);
  free(launcher_output(args));
  rmq_producer *p = producer_for("own_timeout", "thread");
  rmq_message *message = rmq_message_new();
  CHECK_RC(rmq_message_set_topic(message, topic), RMQ_RESULT_OK);
  CHECK_RC(rmq_message_set_body(message, (const uint8_t *)"own timeout", 11), RMQ_RESULT_OK);
  rmq_send_result *result = NULL;
  /* The route and the connection, before the hang. */
  CHECK_RC(rmq_producer_send_sync(p, message, &result), RMQ_RESULT_OK);
  rmq_send_result_free(result);
  result = NULL;
  CHECK_RC(rmq_message_set_send_timeout_ms(message, OWN_TIMEOUT_MS), RMQ_RESULT_OK);
  rmq_batch *batch = rmq_batch_new();
  CHECK_RC(rmq_batch_add(batch, message), RMQ_RESULT_OK);
  CHECK_RC(rmq_batch_add(batch, message), RMQ_RESULT_OK);

  free(launcher_output("pause-broker broker-b"));
  double began = now_ms();
  rmq_result rc = rmq_producer_send_sync(p, message, &result);
  check_own_timeout("sync", rc, now_ms() - began);
  CHECK(result == NULL);
  began = now_ms();
  rc = rmq_producer_send_batch_sync(p, batch, &result);
  check_own_timeout("batch", rc, now_ms() - began);
  drained_tally async = {PTHREAD_MUTEX_INITIALIZER, 0, RMQ_RESULT_OK, 0, ""};
  began = now_ms();
  CHECK_RC(rmq_producer_send_async(p, message, on_drained_delivery, &async), RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_flush(p, 30000), RMQ_RESULT_OK);
  CHECK(async.calls == 1);
  check_own_timeout("async", async.rc, async.called_ms - began);
  free(launcher_output("resume-broker broker-b"));

  rmq_batch_free(batch);
  rmq_message_free(message);
  rmq_producer_free(p);
}

/* ------------------------------------------------------------------------------------------ */
/* 11. Auto-batching                                                                           */

/* With auto_batch on, 30 async sends go out in fewer requests (batches, as the send hook sees
 * them); each callback comes once with the message's own result, and readback.py finds each
 * message stored with its own content. */
static void auto_batched_sends_are_answered_once_each_and_stored(void) {
  rmq_config *c = rmq_config_new();
  char group[128], err[256];
  snprintf(group, sizeof group, "CTestGroup_auto_batch_%s", run_name);
  const char *options[][2] = {{"group", group},
                              {"namesrv_addr", namesrv},
                              {"auto_batch", "true"},
                              {"batch_max_delay_ms", "200"}};
  for (int k = 0; k < 4; k++)
    CHECK_RC(rmq_config_set(c, options[k][0], options[k][1], err, sizeof err), RMQ_RESULT_OK);
  CHECK_RC(rmq_config_set(c, "batch_max_delay_ms", "0", err, sizeof err),
           RMQ_RESULT_INVALID_ARGUMENT);
  CHECK(strstr(err, "batch_max_delay_ms") != NULL);
  rmq_producer *p = NULL;
  CHECK_RC(rmq_producer_new(c, &p, err, sizeof err), RMQ_RESULT_OK);
  rmq_config_free(c);
  CHECK_RC(rmq_producer_start(p), RMQ_RESULT_OK);
  hook_tally hooks = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, "", {0}, 0};
  CHECK_RC(rmq_producer_add_send_hook(p, NULL, hook_after, &hooks), RMQ_RESULT_OK);
  pressure_tally t = {PTHREAD_MUTEX_INITIALIZER, 0, 0, 0, 0, 0};
  send_async_burst(p, &t, "AutoBatch", 30);
  CHECK(t.calls == 30 && t.ok == 30 && t.refused == 0 && t.other == 0);
  CHECK(hooks.batch >= 1 && hooks.after < 30 && hooks.failed == 0 && hooks.bad_context == 0);
  rmq_producer_free(p);
}

/* ------------------------------------------------------------------------------------------ */
/* Message trace                                                                              */

/* Whether Java's `mqadmin queryMsgTraceById` prints a successful Pub row of `group` for `msg_id`
 * (the broker indexes the trace message shortly after it is stored: asked a few times). */
static int java_sees_pub_row(const char *msg_id, const char *group) {
  char args[256];
  snprintf(args, sizeof args, "admin queryMsgTraceById -i '%s'", msg_id);
  for (int attempt = 0; attempt < 20; attempt++) {
    char *out = launcher_output(args);
    int found = 0;
    for (char *line = out ? strtok(out, "\n") : NULL; line && !found; line = strtok(NULL, "\n")) {
      found = strncmp(line, "Pub ", 4) == 0 && strstr(line, group) && strstr(line, "success");
    }
    free(out);
    if (found) return 1;
    sleep_ms(1000);
  }
  return 0;
}

typedef struct {
  sent_message *m;
  char msg_id[64];
} traced_delivery;

static void on_traced_delivery(void *userdata, rmq_result rc, const rmq_send_result *r,
                               const rmq_error *e) {
  traced_delivery *d = userdata;
  (void)e;
  CHECK(rc == RMQ_RESULT_OK);
  if (r) {
    snprintf(d->msg_id, sizeof d->msg_id, "%s", rmq_send_result_msg_id(r));
    record_stored(d->m, rmq_send_result_msg_id(r));
  }
}

static rmq_producer *traced_producer(const char *group, const char *trace_topic) {
  rmq_config *config = rmq_config_new();
  char err[256];
  CHECK_RC(rmq_config_set(config, "group", group, err, sizeof err), RMQ_RESULT_OK);
  CHECK_RC(rmq_config_set(config, "namesrv_addr", namesrv, err, sizeof err), RMQ_RESULT_OK);
  CHECK_RC(rmq_config_set(config, "enable_msg_trace", "true", err, sizeof err), RMQ_RESULT_OK);
  if (trace_topic) {
    CHECK_RC(rmq_config_set(config, "customized_trace_topic", trace_topic, err, sizeof err),
             RMQ_RESULT_OK);
  }
  /* A topic name the broker would refuse is refused here. */
  CHECK_RC(rmq_config_set(config, "customized_trace_topic", "no spaces", err, sizeof err),
           RMQ_RESULT_INVALID_ARGUMENT);
  rmq_producer *producer = NULL;
  CHECK_RC(rmq_producer_new(config, &producer, err, sizeof err), RMQ_RESULT_OK);
  rmq_config_free(config);
  CHECK_RC(rmq_producer_start(producer), RMQ_RESULT_OK);
  return producer;
}

/* Sync and async sends write Pub records Java's query tool reads; a trace topic that cannot be
 * written (read-only queues) fails no send, and its lost records are counted. */
static void message_trace_is_read_by_java_s_query_tool(void) {
  char group[128];
  snprintf(group, sizeof group, "CTestGroup_trace_%s", run_name);
  rmq_producer *p = traced_producer(group, NULL);
  sent_message *sync_sent = sent_text("Trace", "traced, sync");
  rmq_send_result *result = send_sync_ok(p, sync_sent);
  char sync_id[64] = "";
  if (result) {
    snprintf(sync_id, sizeof sync_id, "%s", rmq_send_result_msg_id(result));
    record_stored(sync_sent, sync_id);
  }
  rmq_send_result_free(result);
  traced_delivery d = {sent_text("Trace", "traced, async"), ""};
  rmq_message *message = to_message(d.m);
  CHECK_RC(rmq_producer_send_async(p, message, on_traced_delivery, &d), RMQ_RESULT_OK);
  rmq_message_free(message);
  CHECK_RC(rmq_producer_flush(p, 60000), RMQ_RESULT_OK);
  /* Shutdown sends the queued records. */
  CHECK_RC(rmq_producer_shutdown(p), RMQ_RESULT_OK);
  uint64_t sent = 0, dropped = 9, failed = 9;
  CHECK_RC(rmq_producer_trace_stats(p, &sent, &dropped, &failed), RMQ_RESULT_OK);
  CHECK(sent == 2 && dropped == 0 && failed == 0);
  CHECK_RC(rmq_producer_trace_stats(p, NULL, NULL, NULL), RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_trace_stats(NULL, &sent, NULL, NULL), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK(*sync_id && java_sees_pub_row(sync_id, group));
  CHECK(*d.msg_id && java_sees_pub_row(d.msg_id, group));
  rmq_producer_free(p);
  sent_free(sync_sent);
  sent_free(d.m);

  char trace_topic[128], args[256];
  snprintf(trace_topic, sizeof trace_topic, "CTest_TraceReadOnly_%s", run_name);
  snprintf(args, sizeof args, "admin updateTopic -c DefaultCluster -t '%s' -p 4", trace_topic);
  free(launcher_output(args));
  snprintf(group, sizeof group, "CTestGroup_trace_ro_%s", run_name);
  p = traced_producer(group, trace_topic);
  enum { SENDS = 3 };
  for (int i = 0; i < SENDS; i++) {
    sent_message *m = sent_text("Trace", "traced to a read-only topic");
    result = send_sync_ok(p, m);
    if (result) record_stored(m, rmq_send_result_msg_id(result));
    rmq_send_result_free(result);
    sent_free(m);
  }
  CHECK_RC(rmq_producer_shutdown(p), RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_trace_stats(p, &sent, &dropped, &failed), RMQ_RESULT_OK);
  CHECK(sent == 0 && dropped == 0 && failed == SENDS);
  rmq_producer_free(p);
}

/* ------------------------------------------------------------------------------------------ */
/* Statistics                                                                                 */

typedef struct {
  pthread_mutex_t lock;
  int calls;
  char last[16384];
} statistics_tally;

static void on_statistics(void *userdata, const char *json, size_t len) {
  statistics_tally *t = userdata;
  pthread_mutex_lock(&t->lock);
  t->calls++;
  CHECK(strlen(json) == len);
  snprintf(t->last, sizeof t->last, "%s", json);
  pthread_mutex_unlock(&t->lock);
}

static int statistics_reported(statistics_tally *t, const char *text) {
  pthread_mutex_lock(&t->lock);
  int found = strstr(t->last, text) != NULL;
  pthread_mutex_unlock(&t->lock);
  return found;
}

static void statistics_count_the_sends_and_reach_the_callback(void) {
  rmq_producer *p = producer_with("stats", "thread", "statistics_interval_ms", "100");
  statistics_tally t = {PTHREAD_MUTEX_INITIALIZER, 0, ""};
  CHECK_RC(rmq_producer_set_statistics_cb(p, on_statistics, &t), RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_set_statistics_cb(p, NULL, &t), RMQ_RESULT_INVALID_ARGUMENT);
  for (int i = 0; i < 5; i++) {
    sent_message *m = sent_text("Stats", "sync, counted");
    rmq_send_result *result = send_sync_ok(p, m);
    if (result) record_stored(m, rmq_send_result_msg_id(result));
    rmq_send_result_free(result);
    sent_free(m);
  }
  char *json = NULL;
  CHECK_RC(rmq_producer_stats(p, &json), RMQ_RESULT_OK);
  CHECK(json != NULL && strstr(json, "\"sends\":{\"sync\":{\"SEND_OK\":5}}") != NULL);
  CHECK(json != NULL && strstr(json, "\"attempts\":5,\"retries\":0") != NULL);
  CHECK(json != NULL && strstr(json, "\"in_flight\":0,\"in_flight_bytes\":0") != NULL);
  rmq_string_free(json);
  int reported = 0;
  for (int i = 0; i < 100 && !reported; i++) {
    reported = statistics_reported(&t, "\"sync\":{\"SEND_OK\":5}");
    if (!reported) sleep_ms(50);
  }
  CHECK(reported);
  rmq_producer_free(p);
}

int main(void) {
  int setup = cluster_setup("test_features");
  if (setup != 0) return setup;
  launcher = getenv("RMQ_CLUSTER");
  if (!launcher || access(launcher, X_OK) != 0) {
    fprintf(stderr, "test_features needs RMQ_CLUSTER, the rmq-cluster launcher\n");
    return 2;
  }

  RUN(explicit_queue_selector_and_sharding_key_land_where_asked);
  RUN(batches_sync_and_async_store_every_message);
  RUN(requests_get_the_java_responders_replies);
  RUN(transactions_commit_rollback_and_check_back);
  RUN(send_hooks_see_every_attempt);
  RUN(delayed_and_timer_messages_are_stored_when_due);
  RUN(recall_cancels_a_timer_message_before_it_is_due);
  RUN(namespaces_prefix_the_stored_topic);
  RUN(vip_channel_sends_go_to_the_listen_port_minus_two);
  RUN(acl_and_tls_against_the_secure_cluster);
  RUN(async_backpressure_fails_or_blocks_when_full);
  RUN(compression_types_read_back_decompressed);
  RUN(drained_topic_fails_every_form_with_no_route);
  RUN(a_message_s_own_timeout_ends_its_sends_on_a_hung_broker);
  RUN(auto_batched_sends_are_answered_once_each_and_stored);
  RUN(message_trace_is_read_by_java_s_query_tool);
  RUN(statistics_count_the_sends_and_reach_the_callback);
  fclose(manifest);
  return harness_finish("test_features");
}
