/*
 * The manifest of messages the C cluster programs expect in the store (JSON lines that readback.py
 * compares with what the independent Java reader finds), and the environment they read. Uses no
 * library API, so that programs written against other headers (tests/c/compat) share it.
 *
 * Environment: NAMESRV_ADDR, RMQ_C_TEST_MANIFEST (where to write the manifest), RMQ_C_TEST_SCALE
 * (default 1) scales the message counts, RMQ_C_TEST_RUN names the run (topics are
 * CTest_<case>_<run>).
 */
#ifndef RMQ_TEST_MANIFEST_H
#define RMQ_TEST_MANIFEST_H

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *namesrv;
static char run_name[64];
static int scale = 1;
static FILE *manifest;
static pthread_mutex_t manifest_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_t main_thread;
static int next_id;

/* ------------------------------------------------------------------------------------------ */
/* What was sent, as the manifest records it                                                  */

typedef struct {
  char topic[128];
  char id[96]; /* the user property c_id that identifies the message in the store */
  const char *tags;
  const char *keys;
  uint8_t *body;
  size_t body_len;
} sent_message;

static inline void json_string(FILE *out, const char *s) {
  fputc('"', out);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      fprintf(out, "\\%c", c);
    else if (c < 0x20)
      fprintf(out, "\\u%04x", c);
    else
      fputc(c, out);
  }
  fputc('"', out);
}

/* Records a message the store must hold; msg_id is NULL for a oneway send. `extra` (or NULL) adds
 * members to the manifest line, e.g. "\"queue\":[\"broker-a\",3]" (see readback.py). */
static inline void record_stored_with(const sent_message *m, const char *msg_id,
                                      const char *extra) {
  pthread_mutex_lock(&manifest_lock);
  fputs("{\"topic\":", manifest);
  json_string(manifest, m->topic);
  fputs(",\"id\":", manifest);
  json_string(manifest, m->id);
  fputs(",\"msgId\":", manifest);
  if (msg_id) json_string(manifest, msg_id); else fputs("null", manifest);
  fputs(",\"tags\":", manifest);
  if (m->tags) json_string(manifest, m->tags); else fputs("null", manifest);
  fputs(",\"keys\":", manifest);
  if (m->keys) json_string(manifest, m->keys); else fputs("null", manifest);
  fputs(",\"props\":{\"c_id\":", manifest);
  json_string(manifest, m->id);
  fputs(",\"lang\":\"C\",\"greeting\":\"h\xc3\xa9llo w\xc3\xb6rld\"},\"bodyHex\":\"", manifest);
  for (size_t i = 0; i < m->body_len; i++) fprintf(manifest, "%02x", m->body[i]);
  fputs("\"", manifest);
  if (extra) fprintf(manifest, ",%s", extra);
  fputs("}\n", manifest);
  fflush(manifest);
  pthread_mutex_unlock(&manifest_lock);
}

static inline void record_stored(const sent_message *m, const char *msg_id) {
  record_stored_with(m, msg_id, NULL);
}

/* A message with the usual tags, keys and properties; the body is copied. */
static inline sent_message *sent_new(const char *topic_case, const uint8_t *body, size_t len) {
  sent_message *m = calloc(1, sizeof *m);
  snprintf(m->topic, sizeof m->topic, "CTest_%s_%s", topic_case, run_name);
  pthread_mutex_lock(&manifest_lock);
  snprintf(m->id, sizeof m->id, "%s-%d", run_name, next_id++);
  pthread_mutex_unlock(&manifest_lock);
  m->tags = "TagA";
  m->keys = "order-1 user-7";
  m->body = malloc(len ? len : 1);
  memcpy(m->body, body, len);
  m->body_len = len;
  return m;
}

static inline sent_message *sent_text(const char *topic_case, const char *text) {
  return sent_new(topic_case, (const uint8_t *)text, strlen(text));
}

static inline void sent_free(sent_message *m) {
  free(m->body);
  free(m);
}

/* Through the 5.x Proxy (the launcher printed REAL_NAMESRV_ADDR), sends go only to topics it knows
 * whose message.type matches the message's (brokers refuse MIXED topics by default): each topic is
 * created first by the launcher ($RMQ_CLUSTER), NORMAL, or DELAY for the delay test's. Brokers
 * elsewhere create a topic on its first send. Non-zero when the launcher failed. */
static inline int prepare_topic(const char *topic) {
  static char prepared[64][128];
  static int prepared_count;
  static pthread_mutex_t prepared_lock = PTHREAD_MUTEX_INITIALIZER;
  if (getenv("REAL_NAMESRV_ADDR") == NULL || getenv("RMQ_CLUSTER") == NULL) return 0;
  pthread_mutex_lock(&prepared_lock);
  int known = 0, status = 0;
  for (int i = 0; i < prepared_count && !known; i++) known = strcmp(prepared[i], topic) == 0;
  if (!known && prepared_count < 64) {
    char command[512];
    const char *type = strncmp(topic, "CTest_Delayed_", 14) == 0 ? "DELAY" : "NORMAL";
    snprintf(command, sizeof command,
             "'%s' create-topic '%s' --queues 4 --message-type %s >/dev/null",
             getenv("RMQ_CLUSTER"), topic, type);
    status = system(command);
    if (status == 0) snprintf(prepared[prepared_count++], sizeof prepared[0], "%s", topic);
  }
  pthread_mutex_unlock(&prepared_lock);
  return status;
}

/* Reads the environment and opens the manifest; non-zero (the exit status) when it cannot. */
static inline int cluster_setup(const char *program) {
  namesrv = getenv("NAMESRV_ADDR");
  const char *manifest_path = getenv("RMQ_C_TEST_MANIFEST");
  if (!namesrv || !*namesrv || !manifest_path) {
    fprintf(stderr, "%s needs NAMESRV_ADDR and RMQ_C_TEST_MANIFEST\n", program);
    return 2;
  }
  if (getenv("RMQ_C_TEST_SCALE")) scale = atoi(getenv("RMQ_C_TEST_SCALE"));
  if (scale < 1) scale = 1;
  if (getenv("RMQ_C_TEST_RUN"))
    snprintf(run_name, sizeof run_name, "%s", getenv("RMQ_C_TEST_RUN"));
  else
    snprintf(run_name, sizeof run_name, "%ld", (long)time(NULL));
  manifest = fopen(manifest_path, "w");
  if (!manifest) {
    perror(manifest_path);
    return 2;
  }
  main_thread = pthread_self();
  srand(7);
  return 0;
}

#endif /* RMQ_TEST_MANIFEST_H */
