/*
 * What the C cluster programs (test_cluster.c, test_features.c) share: the cluster's address, the
 * manifest of messages expected in the store (manifest.h), messages with the usual tags, keys and
 * properties, and producers on the cluster.
 *
 * Environment: NAMESRV_ADDR, RMQ_C_TEST_MANIFEST (where to write the manifest), RMQ_C_TEST_SCALE
 * (default 1) scales the message counts, RMQ_C_TEST_RUN names the run (topics are
 * CTest_<case>_<run>).
 */
#ifndef RMQ_TEST_CLUSTER_SUPPORT_H
#define RMQ_TEST_CLUSTER_SUPPORT_H

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "harness.h"
#include "manifest.h"

static inline rmq_message *to_message(const sent_message *m) {
  CHECK(prepare_topic(m->topic) == 0);
  rmq_message *message = rmq_message_new();
  CHECK_RC(rmq_message_set_topic(message, m->topic), RMQ_RESULT_OK);
  CHECK_RC(rmq_message_set_tags(message, m->tags), RMQ_RESULT_OK);
  CHECK_RC(rmq_message_set_keys(message, m->keys), RMQ_RESULT_OK);
  CHECK_RC(rmq_message_set_property(message, "c_id", m->id), RMQ_RESULT_OK);
  CHECK_RC(rmq_message_set_property(message, "lang", "C"), RMQ_RESULT_OK);
  CHECK_RC(rmq_message_set_property(message, "greeting", "h\xc3\xa9llo w\xc3\xb6rld"),
           RMQ_RESULT_OK);
  CHECK_RC(rmq_message_set_body(message, m->body, m->body_len), RMQ_RESULT_OK);
  return message;
}

/* ------------------------------------------------------------------------------------------ */
/* Producers and callbacks                                                                    */

static inline rmq_producer *producer_with(const char *group_case, const char *callback_mode,
                                   const char *extra_key, const char *extra_value) {
  rmq_config *config = rmq_config_new();
  char group[128], err[256];
  snprintf(group, sizeof group, "CTestGroup_%s_%s", group_case, run_name);
  CHECK_RC(rmq_config_set(config, "group", group, err, sizeof err), RMQ_RESULT_OK);
  CHECK_RC(rmq_config_set(config, "namesrv_addr", namesrv, err, sizeof err), RMQ_RESULT_OK);
  CHECK_RC(rmq_config_set(config, "send_timeout_ms", "10000", err, sizeof err), RMQ_RESULT_OK);
  CHECK_RC(rmq_config_set(config, "callback_mode", callback_mode, err, sizeof err), RMQ_RESULT_OK);
  if (extra_key) {
    CHECK_RC(rmq_config_set(config, extra_key, extra_value, err, sizeof err), RMQ_RESULT_OK);
  }
  rmq_producer *producer = NULL;
  CHECK_RC(rmq_producer_new(config, &producer, err, sizeof err), RMQ_RESULT_OK);
  rmq_config_free(config);
  CHECK_RC(rmq_producer_start(producer), RMQ_RESULT_OK);
  return producer;
}

static inline rmq_producer *producer_for(const char *group_case, const char *callback_mode) {
  return producer_with(group_case, callback_mode, NULL, NULL);
}

#endif /* RMQ_TEST_CLUSTER_SUPPORT_H */
