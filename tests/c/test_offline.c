/*
 * C API tests that need no cluster: names and codes, configuration, messages, NULL arguments,
 * every error detected before the network, lifecycle errors, poll and flush with nothing to do,
 * and async sends that fail (unreachable name server) delivered exactly once.
 */
#define _POSIX_C_SOURCE 200809L

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

/* A name server nobody listens on: start succeeds (it connects lazily), sends fail. */
#define UNREACHABLE_NAMESRV "127.0.0.1:1"

static void sleep_ms(long ms) {
  struct timespec pause = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&pause, NULL);
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

static rmq_config *config_for(const char *group, const char *callback_mode) {
  rmq_config *config = rmq_config_new();
  char err[256];
  CHECK(config != NULL);
  CHECK_RC(rmq_config_set(config, "group", group, err, sizeof err), RMQ_RESULT_OK);
  CHECK_RC(rmq_config_set(config, "namesrv_addr", UNREACHABLE_NAMESRV, err, sizeof err),
           RMQ_RESULT_OK);
  CHECK_RC(rmq_config_set(config, "send_timeout_ms", "600", err, sizeof err), RMQ_RESULT_OK);
  CHECK_RC(rmq_config_set(config, "client_api_timeout_ms", "300", err, sizeof err), RMQ_RESULT_OK);
  CHECK_RC(rmq_config_set(config, "shutdown_timeout_ms", "1000", err, sizeof err), RMQ_RESULT_OK);
  CHECK_RC(rmq_config_set(config, "callback_mode", callback_mode, err, sizeof err), RMQ_RESULT_OK);
  return config;
}

static rmq_producer *producer_for(const char *group, const char *callback_mode) {
  rmq_config *config = config_for(group, callback_mode);
  rmq_producer *producer = NULL;
  char err[256];
  CHECK_RC(rmq_producer_new(config, &producer, err, sizeof err), RMQ_RESULT_OK);
  rmq_config_free(config);
  return producer;
}

static rmq_message *message_for(const char *topic, const char *body) {
  rmq_message *message = rmq_message_new();
  CHECK(message != NULL);
  CHECK_RC(rmq_message_set_topic(message, topic), RMQ_RESULT_OK);
  CHECK_RC(rmq_message_set_body(message, (const uint8_t *)body, strlen(body)), RMQ_RESULT_OK);
  return message;
}

/* Counts callbacks; records the last code and that the error object was well formed. */
typedef struct {
  pthread_mutex_t lock;
  int calls;
  int ok;
  int failed;
  int malformed;
  rmq_result last;
  rmq_error *kept; /* a clone of the last error, outliving its callback */
} tally;

static void tally_init(tally *t) {
  memset(t, 0, sizeof *t);
  pthread_mutex_init(&t->lock, NULL);
}

static void count_delivery(void *userdata, rmq_result result, const rmq_send_result *send_result,
                           const rmq_error *error) {
  tally *t = userdata;
  pthread_mutex_lock(&t->lock);
  t->calls++;
  t->last = result;
  if (result == RMQ_RESULT_OK) {
    t->ok++;
    if (send_result == NULL || error != NULL) t->malformed++;
  } else {
    t->failed++;
    if (send_result != NULL || error == NULL || rmq_error_code(error) != result ||
        rmq_error_message(error) == NULL || strlen(rmq_error_message(error)) == 0)
      t->malformed++;
    rmq_error_free(t->kept);
    t->kept = rmq_error_clone(error);
  }
  pthread_mutex_unlock(&t->lock);
}

static int tally_calls(tally *t) {
  pthread_mutex_lock(&t->lock);
  int calls = t->calls;
  pthread_mutex_unlock(&t->lock);
  return calls;
}

static void version_is_the_crate_version(void) {
  const char *version = rmq_version();
  CHECK(version != NULL);
  char header_version[32];
  snprintf(header_version, sizeof header_version, "%u.%u.%u", (unsigned)RMQ_VERSION_MAJOR,
           (unsigned)RMQ_VERSION_MINOR, (unsigned)RMQ_VERSION_PATCH);
  CHECK_STR(version, header_version);
}

static void result_codes_have_stable_names(void) {
  CHECK(RMQ_RESULT_OK == 0 && RMQ_RESULT_INVALID_ARGUMENT == 1 && RMQ_RESULT_INTERNAL == 14);
  CHECK(RMQ_RESULT_MESSAGE_TOO_LARGE == 18);
  CHECK_STR(rmq_result_name(RMQ_RESULT_OK), "OK");
  CHECK_STR(rmq_result_name(RMQ_RESULT_INVALID_ARGUMENT), "INVALID_ARGUMENT");
  CHECK_STR(rmq_result_name(RMQ_RESULT_BROKER), "BROKER");
  CHECK_STR(rmq_result_name(RMQ_RESULT_INTERNAL), "INTERNAL");
  CHECK_STR(rmq_result_name(RMQ_RESULT_EMPTY_BODY), "EMPTY_BODY");
  for (int code = 0; code <= RMQ_RESULT_MESSAGE_TOO_LARGE; code++) {
    CHECK(strcmp(rmq_result_name(code), "UNKNOWN") != 0);
  }
  CHECK_STR(rmq_result_name(-1), "UNKNOWN");
  CHECK_STR(rmq_result_name(19), "UNKNOWN");
  CHECK_STR(rmq_send_status_name(RMQ_SEND_STATUS_SEND_OK), "SEND_OK");
  CHECK_STR(rmq_send_status_name(RMQ_SEND_STATUS_SLAVE_NOT_AVAILABLE), "SLAVE_NOT_AVAILABLE");
  CHECK_STR(rmq_send_status_name(42), "UNKNOWN");
}

static void every_option_is_settable(void) {
  static const char *const options[][2] = {
      {"group", "g1"},
      {"namesrv_addr", "127.0.0.1:9876;127.0.0.1:9877"},
      {"instance_name", "inst"},
      {"send_timeout_ms", "1000"},
      {"retry_times", "3"},
      {"retry_times_async", "1"},
      {"compress_threshold", "8192"},
      {"compress_level", "9"},
      {"max_message_size", "1048576"},
      {"default_topic_queue_nums", "8"},
      {"create_topic_key", "TBW102"},
      {"latency_fault_tolerance", "false"},
      {"retry_another_broker_when_not_store_ok", "true"},
      {"heartbeat_interval_ms", "10000"},
      {"poll_namesrv_interval_ms", "10000"},
      {"client_api_timeout_ms", "2000"},
      {"serialize_type", "rocketmq"},
      {"max_in_flight_per_connection", "1024"},
      {"shutdown_timeout_ms", "500"},
      {"compress_type", "lz4"},
      {"max_async_in_flight", "10"},
      {"max_async_in_flight_bytes", "1048576"},
      {"backpressure", "fail"},
      {"namespace", "ns1"},
      {"vip_channel_enabled", "false"},
      {"access_key", "x"},
      {"secret_key", "x"},
      {"security_token", "x"},
      {"tls", "false"},
      {"tls_verify", "true"},
      {"tls_ca_file", "/etc/ssl/certs/ca-certificates.crt"},
      {"tls_server_name", "localhost"},
      {"callback_mode", "poll"},
      {"callback_mode", "thread"},
  };
  rmq_config *config = rmq_config_new();
  char err[256] = "untouched";
  for (size_t i = 0; i < sizeof options / sizeof options[0]; i++) {
    CHECK_RC(rmq_config_set(config, options[i][0], options[i][1], err, sizeof err), RMQ_RESULT_OK);
  }
  CHECK_STR(err, "untouched");
  rmq_config_free(config);
}

static void bad_options_are_invalid_arguments_with_a_message(void) {
  rmq_config *config = rmq_config_new();
  char err[1024]; /* room for the whole list of known keys */
  CHECK_RC(rmq_config_set(config, "no_such_option", "1", err, sizeof err),
           RMQ_RESULT_INVALID_ARGUMENT);
  CHECK(strstr(err, "no_such_option") != NULL);
  CHECK(strstr(err, "callback_mode") != NULL); /* the known keys are listed */
  CHECK(rmq_last_error_code() == RMQ_RESULT_INVALID_ARGUMENT);

  static const char *const bad[][2] = {
      {"send_timeout_ms", "-1"},    {"send_timeout_ms", "soon"},   {"compress_level", "10"},
      {"serialize_type", "xml"},    {"latency_fault_tolerance", "maybe"},
      {"callback_mode", "fiber"},   {"retry_times", ""},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    CHECK_RC(rmq_config_set(config, bad[i][0], bad[i][1], err, sizeof err),
             RMQ_RESULT_INVALID_ARGUMENT);
    CHECK(strstr(err, bad[i][0]) != NULL);
  }
  /* Bad UTF-8 in a key or value. */
  CHECK_RC(rmq_config_set(config, "group\xff", "g", err, sizeof err), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_config_set(config, "group", "\xc3\x28", err, sizeof err),
           RMQ_RESULT_INVALID_ARGUMENT);
  /* errbuf may be NULL; a short one is truncated and still terminated. */
  CHECK_RC(rmq_config_set(config, "nope", "1", NULL, 0), RMQ_RESULT_INVALID_ARGUMENT);
  char tiny[8];
  memset(tiny, 'x', sizeof tiny);
  CHECK_RC(rmq_config_set(config, "nope", "1", tiny, sizeof tiny), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK(strlen(tiny) == sizeof tiny - 1);
  rmq_config_free(config);
}

static void last_error_is_set_by_failures_and_cleared_by_success(void) {
  rmq_config *config = rmq_config_new();
  CHECK_RC(rmq_config_set(config, "nope", "1", NULL, 0), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK(rmq_last_error_code() == RMQ_RESULT_INVALID_ARGUMENT);
  size_t full = rmq_last_error_message(NULL, 0);
  CHECK(full > 10);
  char small[6];
  CHECK(rmq_last_error_message(small, sizeof small) == full);
  CHECK(strlen(small) == sizeof small - 1);
  char *whole = malloc(full + 1);
  CHECK(rmq_last_error_message(whole, full + 1) == full);
  CHECK(strlen(whole) == full && strstr(whole, "nope") != NULL);
  free(whole);
  CHECK(rmq_last_error_response_code() == -1);
  char remark[16] = "x";
  CHECK(rmq_last_error_remark(remark, sizeof remark) == 0 && remark[0] == '\0');

  CHECK_RC(rmq_config_set(config, "group", "g", NULL, 0), RMQ_RESULT_OK);
  CHECK(rmq_last_error_code() == RMQ_RESULT_OK);
  char message[16] = "x";
  CHECK(rmq_last_error_message(message, sizeof message) == 0 && message[0] == '\0');
  rmq_config_free(config);
}

static void null_arguments_are_reported_never_dereferenced(void) {
  char err[128];
  rmq_config *config = config_for("null_args", "thread");
  rmq_message *message = message_for("TopicTest", "body");
  rmq_producer *producer = (rmq_producer *)(uintptr_t)0x1; /* must stay untouched */
  size_t served = 7;

  CHECK_RC(rmq_config_set(NULL, "group", "g", err, sizeof err), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_config_set(config, NULL, "g", err, sizeof err), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_config_set(config, "group", NULL, err, sizeof err), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_new(NULL, &producer, err, sizeof err), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK(producer == (rmq_producer *)(uintptr_t)0x1);
  CHECK_RC(rmq_producer_new(config, NULL, err, sizeof err), RMQ_RESULT_INVALID_ARGUMENT);

  CHECK_RC(rmq_message_set_topic(NULL, "t"), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_message_set_topic(message, NULL), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_message_set_tags(message, NULL), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_message_set_keys(message, NULL), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_message_set_body(message, NULL, 3), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_message_set_body(NULL, (const uint8_t *)"x", 1), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_message_set_property(message, NULL, "v"), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_message_set_property(message, "n", NULL), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_message_set_delay_level(NULL, 1), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_message_set_deliver_time_ms(NULL, 1), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_message_set_send_timeout_ms(NULL, 1), RMQ_RESULT_INVALID_ARGUMENT);

  CHECK_RC(rmq_producer_start(NULL), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_shutdown(NULL), RMQ_RESULT_INVALID_ARGUMENT);
  rmq_send_result *result = NULL;
  CHECK_RC(rmq_producer_send_sync(NULL, message, &result), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK(result == NULL);
  CHECK_RC(rmq_producer_send_async(NULL, message, count_delivery, NULL),
           RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_send_oneway(NULL, message), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_flush(NULL, 0), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_poll(NULL, 0, &served), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK(served == 7);
  CHECK(rmq_producer_in_flight(NULL) == 0);

  rmq_producer *real = NULL;
  CHECK_RC(rmq_producer_new(config, &real, err, sizeof err), RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_send_sync(real, NULL, &result), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_send_sync(real, message, NULL), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_send_async(real, NULL, count_delivery, NULL), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_send_async(real, message, NULL, NULL), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_send_oneway(real, NULL), RMQ_RESULT_INVALID_ARGUMENT);
  rmq_producer_free(real);

  /* Getters of NULL objects. */
  CHECK(rmq_send_result_status(NULL) == RMQ_SEND_STATUS_UNKNOWN);
  CHECK(rmq_send_result_msg_id(NULL) == NULL);
  CHECK(rmq_send_result_offset_msg_id(NULL) == NULL);
  CHECK(rmq_send_result_topic(NULL) == NULL);
  CHECK(rmq_send_result_broker_name(NULL) == NULL);
  CHECK(rmq_send_result_queue_id(NULL) == -1);
  CHECK(rmq_send_result_queue_offset(NULL) == -1);
  CHECK(rmq_send_result_transaction_id(NULL) == NULL);
  CHECK(rmq_send_result_region_id(NULL) == NULL);
  CHECK(rmq_send_result_clone(NULL) == NULL);
  CHECK(rmq_error_code(NULL) == RMQ_RESULT_INVALID_ARGUMENT);
  CHECK(rmq_error_message(NULL) == NULL);
  CHECK(rmq_error_response_code(NULL) == -1);
  CHECK(rmq_error_remark(NULL) == NULL);
  CHECK(rmq_error_broker_addr(NULL) == NULL);
  CHECK(rmq_error_clone(NULL) == NULL);

  /* Freeing NULL is a no-op. */
  rmq_config_free(NULL);
  rmq_message_free(NULL);
  rmq_producer_free(NULL);
  rmq_send_result_free(NULL);
  rmq_error_free(NULL);

  rmq_message_free(message);
  rmq_config_free(config);
}

static void message_setters_copy_and_check_utf8(void) {
  rmq_message *message = rmq_message_new();
  CHECK_RC(rmq_message_set_topic(message, "Topic\xff"), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_message_set_tags(message, "\xe2\x82"), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_message_set_property(message, "k", "\xff"), RMQ_RESULT_INVALID_ARGUMENT);
  char topic[] = "TopicTest";
  CHECK_RC(rmq_message_set_topic(message, topic), RMQ_RESULT_OK);
  topic[0] = 'X'; /* the library kept its own copy */
  CHECK_RC(rmq_message_set_tags(message, "TagA"), RMQ_RESULT_OK);
  CHECK_RC(rmq_message_set_tags(message, ""), RMQ_RESULT_OK);
  CHECK_RC(rmq_message_set_keys(message, "k1 k2"), RMQ_RESULT_OK);
  CHECK_RC(rmq_message_set_property(message, "a", "1"), RMQ_RESULT_OK);
  CHECK_RC(rmq_message_set_property(message, "a", "2"), RMQ_RESULT_OK);
  CHECK_RC(rmq_message_set_body(message, NULL, 0), RMQ_RESULT_OK);
  const uint8_t bytes[] = {0, 1, 0, 255};
  CHECK_RC(rmq_message_set_body(message, bytes, sizeof bytes), RMQ_RESULT_OK);
  CHECK_RC(rmq_message_set_delay_level(message, 3), RMQ_RESULT_OK);
  CHECK_RC(rmq_message_set_delay_level(message, 0), RMQ_RESULT_OK);
  CHECK_RC(rmq_message_set_deliver_time_ms(message, 1700000000000LL), RMQ_RESULT_OK);
  rmq_message_free(message);
}

static void producer_needs_a_valid_group(void) {
  rmq_config *config = rmq_config_new();
  rmq_producer *producer = NULL;
  char err[256] = "";
  CHECK_RC(rmq_producer_new(config, &producer, err, sizeof err), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK(producer == NULL && strlen(err) > 0);
  CHECK_RC(rmq_config_set(config, "group", "DEFAULT_PRODUCER", NULL, 0), RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_new(config, &producer, err, sizeof err), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_config_set(config, "group", "bad group!", NULL, 0), RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_new(config, &producer, err, sizeof err), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK(producer == NULL);
  rmq_config_free(config);
}

static void sends_before_start_and_after_shutdown_are_illegal_state(void) {
  rmq_producer *producer = producer_for("lifecycle", "thread");
  rmq_message *message = message_for("TopicTest", "body");
  rmq_send_result *result = NULL;
  tally t;
  tally_init(&t);

  CHECK_RC(rmq_producer_send_sync(producer, message, &result), RMQ_RESULT_ILLEGAL_STATE);
  CHECK(result == NULL);
  CHECK_RC(rmq_producer_send_async(producer, message, count_delivery, &t),
           RMQ_RESULT_ILLEGAL_STATE);
  CHECK_RC(rmq_producer_send_oneway(producer, message), RMQ_RESULT_ILLEGAL_STATE);

  CHECK_RC(rmq_producer_start(producer), RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_start(producer), RMQ_RESULT_ILLEGAL_STATE); /* double start */
  CHECK_RC(rmq_producer_shutdown(producer), RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_shutdown(producer), RMQ_RESULT_OK); /* a no-op */
  CHECK_RC(rmq_producer_start(producer), RMQ_RESULT_ILLEGAL_STATE); /* no restart */

  CHECK_RC(rmq_producer_send_sync(producer, message, &result), RMQ_RESULT_ILLEGAL_STATE);
  CHECK_RC(rmq_producer_send_async(producer, message, count_delivery, &t),
           RMQ_RESULT_ILLEGAL_STATE);
  CHECK_RC(rmq_producer_send_oneway(producer, message), RMQ_RESULT_ILLEGAL_STATE);
  CHECK(tally_calls(&t) == 0); /* refused sends never call back */

  rmq_message_free(message);
  rmq_producer_free(producer);
}

static void a_group_can_start_once_per_instance(void) {
  rmq_producer *first = producer_for("same_group", "thread");
  rmq_producer *second = producer_for("same_group", "thread");
  CHECK_RC(rmq_producer_start(first), RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_start(second), RMQ_RESULT_GROUP_ALREADY_EXISTS);
  rmq_producer_free(second);
  rmq_producer_free(first); /* shuts down a started producer */
}

/* Every check the library makes before the network, in all three send modes. */
static void invalid_messages_are_refused_before_the_network(void) {
  rmq_config *config = config_for("validation", "thread");
  CHECK_RC(rmq_config_set(config, "max_message_size", "1024", NULL, 0), RMQ_RESULT_OK);
  rmq_producer *producer = NULL;
  CHECK_RC(rmq_producer_new(config, &producer, NULL, 0), RMQ_RESULT_OK);
  rmq_config_free(config);
  CHECK_RC(rmq_producer_start(producer), RMQ_RESULT_OK);
  tally t;
  tally_init(&t);

  struct {
    const char *what;
    rmq_message *message;
    rmq_result expected;
  } cases[10];
  size_t n = 0;
  cases[n].what = "invalid topic";
  cases[n].message = message_for("bad topic!", "body");
  cases[n++].expected = RMQ_RESULT_INVALID_TOPIC;
  cases[n].what = "blank topic";
  cases[n].message = message_for("", "body");
  cases[n++].expected = RMQ_RESULT_INVALID_TOPIC;
  cases[n].what = "reserved topic";
  cases[n].message = message_for("SCHEDULE_TOPIC_XXXX", "body");
  cases[n++].expected = RMQ_RESULT_RESERVED_TOPIC;
  cases[n].what = "empty body";
  cases[n].message = message_for("TopicTest", "");
  cases[n++].expected = RMQ_RESULT_EMPTY_BODY;
  cases[n].what = "oversized body";
  cases[n].message = message_for("TopicTest", "x");
  {
    static uint8_t big[2048];
    CHECK_RC(rmq_message_set_body(cases[n].message, big, sizeof big), RMQ_RESULT_OK);
  }
  cases[n++].expected = RMQ_RESULT_MESSAGE_TOO_LARGE;
  cases[n].what = "reserved property";
  cases[n].message = message_for("TopicTest", "body");
  CHECK_RC(rmq_message_set_property(cases[n].message, "UNIQ_KEY", "mine"), RMQ_RESULT_OK);
  cases[n++].expected = RMQ_RESULT_INVALID_MESSAGE;
  cases[n].what = "negative delay level";
  cases[n].message = message_for("TopicTest", "body");
  CHECK_RC(rmq_message_set_delay_level(cases[n].message, -2), RMQ_RESULT_OK);
  cases[n++].expected = RMQ_RESULT_INVALID_MESSAGE;
  const int64_t bad_timeouts[] = {0, -1, 86400001};
  for (size_t i = 0; i < 3; i++) {
    cases[n].what = "send timeout out of range";
    cases[n].message = message_for("TopicTest", "body");
    CHECK_RC(rmq_message_set_send_timeout_ms(cases[n].message, bad_timeouts[i]), RMQ_RESULT_OK);
    cases[n++].expected = RMQ_RESULT_INVALID_ARGUMENT;
  }

  for (size_t i = 0; i < n; i++) {
    rmq_send_result *result = NULL;
    fprintf(stderr, "        %s\n", cases[i].what);
    CHECK_RC(rmq_producer_send_sync(producer, cases[i].message, &result), cases[i].expected);
    CHECK(result == NULL);
    CHECK_RC(rmq_producer_send_async(producer, cases[i].message, count_delivery, &t),
             cases[i].expected);
    CHECK_RC(rmq_producer_send_oneway(producer, cases[i].message), cases[i].expected);
    rmq_message_free(cases[i].message);
  }
  CHECK(tally_calls(&t) == 0);
  rmq_producer_free(producer);
}

static void poll_needs_poll_mode_and_waits_when_nothing_is_queued(void) {
  rmq_producer *threaded = producer_for("poll_thread_mode", "thread");
  CHECK_RC(rmq_producer_poll(threaded, 0, NULL), RMQ_RESULT_ILLEGAL_STATE);
  rmq_producer_free(threaded);

  rmq_producer *polled = producer_for("poll_mode", "poll");
  size_t served = 99;
  double start = now_ms();
  CHECK_RC(rmq_producer_poll(polled, 100, &served), RMQ_RESULT_OK);
  CHECK(served == 0);
  CHECK(now_ms() - start >= 90);
  CHECK_RC(rmq_producer_poll(polled, 0, NULL), RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_flush(polled, 0), RMQ_RESULT_OK); /* nothing in flight */
  CHECK(rmq_producer_in_flight(polled) == 0);
  rmq_producer_free(polled);
}

/* With no reachable name server every async send fails; each still gets exactly one callback. */
static void failed_async_sends_call_back_exactly_once(const char *mode) {
  char group[64];
  snprintf(group, sizeof group, "unreachable_%s", mode);
  rmq_producer *producer = producer_for(group, mode);
  rmq_message *message = message_for("TopicTest", "body");
  tally t;
  tally_init(&t);
  CHECK_RC(rmq_producer_start(producer), RMQ_RESULT_OK);
  enum { SENDS = 5 };
  for (int i = 0; i < SENDS; i++) {
    CHECK_RC(rmq_producer_send_async(producer, message, count_delivery, &t), RMQ_RESULT_OK);
  }
  rmq_message_free(message); /* the sends hold their own copies */
  CHECK(rmq_producer_in_flight(producer) <= SENDS);
  CHECK_RC(rmq_producer_flush(producer, 30000), RMQ_RESULT_OK);
  CHECK(rmq_producer_in_flight(producer) == 0);
  CHECK(t.calls == SENDS && t.failed == SENDS && t.malformed == 0);
  CHECK(t.last != RMQ_RESULT_OK && t.last != RMQ_RESULT_INTERNAL);
  CHECK(rmq_error_code(t.kept) == t.last);
  CHECK(rmq_error_message(t.kept) != NULL && strlen(rmq_error_message(t.kept)) > 0);
  CHECK(rmq_error_response_code(t.kept) == -1);
  rmq_error_free(t.kept);
  rmq_producer_free(producer);
  CHECK(t.calls == SENDS);
}

static void failed_async_sends_thread_mode(void) { failed_async_sends_call_back_exactly_once("thread"); }
static void failed_async_sends_poll_mode(void) { failed_async_sends_call_back_exactly_once("poll"); }

/* A sync send that cannot reach a name server fails within its budget with a network-ish code. */
static void sync_send_without_a_name_server_fails_in_time(void) {
  rmq_producer *producer = producer_for("unreachable_sync", "thread");
  rmq_message *message = message_for("TopicTest", "body");
  rmq_send_result *result = NULL;
  CHECK_RC(rmq_producer_start(producer), RMQ_RESULT_OK);
  double start = now_ms();
  rmq_result rc = rmq_producer_send_sync(producer, message, &result);
  CHECK(rc == RMQ_RESULT_NO_ROUTE || rc == RMQ_RESULT_CONNECT || rc == RMQ_RESULT_TIMEOUT ||
        rc == RMQ_RESULT_NETWORK);
  CHECK(rmq_last_error_code() == rc);
  CHECK(result == NULL);
  CHECK(now_ms() - start < 10000);
  rmq_message_free(message);
  rmq_producer_free(producer);
}

/* ------------------------------------------------------------------------------------------ */
/* The feature API (queues, batches, request-reply, transactions, hooks) before the network   */

static int32_t pick_first(void *userdata, const rmq_queue_list *queues, const rmq_message *m) {
  (void)userdata;
  (void)queues;
  (void)m;
  return 0;
}

static int32_t commit_local(void *userdata, const rmq_message *m, const rmq_send_result *half) {
  (void)userdata;
  (void)m;
  (void)half;
  return RMQ_TRANSACTION_STATE_COMMIT;
}

static int32_t commit_check(void *userdata, const rmq_transaction_check *check) {
  (void)userdata;
  (void)check;
  return RMQ_TRANSACTION_STATE_COMMIT;
}

static void on_reply(void *userdata, rmq_result result, const rmq_message *reply,
                     const rmq_error *error) {
  (void)result;
  (void)reply;
  (void)error;
  (*(int *)userdata)++;
}

static void on_hook(void *userdata, const rmq_send_context *ctx) {
  (void)ctx;
  (*(int *)userdata)++;
}

static void feature_api_null_arguments_are_reported(void) {
  rmq_message *message = message_for("TopicTest", "body");
  rmq_send_result *result = NULL;
  rmq_queue_list *list = NULL;
  rmq_message_queue *queue = NULL;
  rmq_message *reply = NULL;
  rmq_transaction_state state = RMQ_TRANSACTION_STATE_UNKNOWN;
  rmq_producer *producer = producer_for("feature_nulls", "thread");
  char err[256];

  CHECK_RC(rmq_message_queue_new(NULL, "broker-a", 0, &queue), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_message_queue_new("T", NULL, 0, &queue), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_message_queue_new("T", "broker-a", 0, NULL), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_message_queue_new("T", "broker-a", -1, &queue), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_message_queue_new("T\xff", "broker-a", 0, &queue), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK(queue == NULL);
  CHECK_RC(rmq_producer_publish_queues(NULL, "T", &list), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_publish_queues(producer, NULL, &list), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_publish_queues(producer, "T", NULL), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK(list == NULL);
  CHECK_RC(rmq_producer_send_to_queue(producer, message, NULL, &result),
           RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_send_with_selector(producer, message, NULL, NULL, &result),
           RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_send_with_selector(producer, NULL, pick_first, NULL, &result),
           RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_send_with_sharding_key(producer, message, NULL, &result),
           RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_send_with_sharding_key(producer, message, "k\xff", &result),
           RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_send_to_queue_async(producer, message, NULL, count_delivery, NULL),
           RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_send_with_sharding_key_async(producer, message, "k", NULL, NULL),
           RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_send_with_sharding_key_async(producer, message, NULL, count_delivery,
                                                     NULL),
           RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_batch_add(NULL, message), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_send_batch_sync(producer, NULL, &result), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_send_batch_async(producer, NULL, count_delivery, NULL),
           RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_request(producer, NULL, 1000, &reply), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_request(producer, message, 1000, NULL), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_request_async(producer, message, 1000, NULL, NULL),
           RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_send_in_transaction(producer, message, NULL, NULL, &result, &state),
           RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_send_in_transaction(producer, message, commit_local, NULL, &result, NULL),
           RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_new_transactional(NULL, commit_check, NULL, &producer, err, sizeof err),
           RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_add_send_hook(producer, NULL, NULL, NULL), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK(result == NULL && reply == NULL && state == RMQ_TRANSACTION_STATE_UNKNOWN);

  /* Getters of NULL objects. */
  size_t len = 99;
  CHECK(rmq_message_topic(NULL) == NULL && rmq_message_tags(NULL) == NULL);
  CHECK(rmq_message_keys(NULL) == NULL && rmq_message_body(NULL, &len) == NULL && len == 99);
  CHECK(rmq_message_body(message, NULL) == NULL);
  CHECK(rmq_message_property(NULL, "a") == NULL && rmq_message_property(message, NULL) == NULL);
  CHECK(rmq_message_property_count(NULL) == 0 && rmq_message_property_name(NULL, 0) == NULL);
  CHECK(rmq_message_property_value(NULL, 0) == NULL && rmq_message_clone(NULL) == NULL);
  CHECK(rmq_message_queue_topic(NULL) == NULL && rmq_message_queue_broker_name(NULL) == NULL);
  CHECK(rmq_message_queue_queue_id(NULL) == -1 && rmq_message_queue_clone(NULL) == NULL);
  CHECK(rmq_queue_list_len(NULL) == 0 && rmq_queue_list_get(NULL, 0) == NULL);
  CHECK(rmq_batch_len(NULL) == 0);
  CHECK(rmq_send_result_msg_id_count(NULL) == 0 && rmq_send_result_msg_id_at(NULL, 0) == NULL);
  CHECK(rmq_send_result_offset_msg_id_at(NULL, 0) == NULL);
  CHECK(rmq_transaction_check_msg_id(NULL) == NULL);
  CHECK(rmq_transaction_check_transaction_id(NULL) == NULL);
  CHECK(rmq_transaction_check_message(NULL) == NULL);
  CHECK(rmq_transaction_check_born_timestamp(NULL) == -1 && rmq_transaction_check_times(NULL) == -1);
  CHECK(rmq_send_context_topic(NULL) == NULL && rmq_send_context_group(NULL) == NULL);
  CHECK(rmq_send_context_broker_name(NULL) == NULL && rmq_send_context_broker_addr(NULL) == NULL);
  CHECK(rmq_send_context_msg_id(NULL) == NULL && rmq_send_context_queue_id(NULL) == -1);
  CHECK(rmq_send_context_attempt(NULL) == -1 && rmq_send_context_latency_us(NULL) == -1);
  CHECK(!rmq_send_context_is_batch(NULL) && !rmq_send_context_is_oneway(NULL));
  CHECK(rmq_send_context_result(NULL) == RMQ_RESULT_INVALID_ARGUMENT);
  CHECK(rmq_send_context_send_result(NULL) == NULL && rmq_send_context_error(NULL) == NULL);
  rmq_message_queue_free(NULL);
  rmq_queue_list_free(NULL);
  rmq_batch_free(NULL);

  rmq_producer_free(producer);
  rmq_message_free(message);
}

static void messages_read_back_what_was_set(void) {
  rmq_message *message = message_for("TopicTest", "x");
  CHECK(rmq_message_tags(message) == NULL && rmq_message_keys(message) == NULL);
  CHECK_RC(rmq_message_set_tags(message, "TagA"), RMQ_RESULT_OK);
  CHECK_RC(rmq_message_set_keys(message, "k1  k2"), RMQ_RESULT_OK);
  CHECK_RC(rmq_message_set_property(message, "a", "1"), RMQ_RESULT_OK);
  CHECK_RC(rmq_message_set_property(message, "b", "h\xc3\xa9"), RMQ_RESULT_OK);
  CHECK_RC(rmq_message_set_property(message, "a", "2"), RMQ_RESULT_OK);
  const uint8_t bytes[] = {0, 1, 0, 255};
  CHECK_RC(rmq_message_set_body(message, bytes, sizeof bytes), RMQ_RESULT_OK);
  CHECK_STR(rmq_message_topic(message), "TopicTest");
  CHECK_STR(rmq_message_tags(message), "TagA");
  CHECK_STR(rmq_message_keys(message), "k1 k2");
  CHECK(rmq_message_property_count(message) == 2);
  CHECK_STR(rmq_message_property_name(message, 1), "b");
  CHECK_STR(rmq_message_property_value(message, 1), "h\xc3\xa9");
  CHECK(rmq_message_property_name(message, 2) == NULL);
  CHECK_STR(rmq_message_property(message, "a"), "2");
  CHECK(rmq_message_property(message, "c") == NULL);
  size_t len = 0;
  const uint8_t *body = rmq_message_body(message, &len);
  CHECK(len == sizeof bytes && memcmp(body, bytes, len) == 0);
  /* A setter drops what the getters handed out; a clone is independent. */
  rmq_message *copy = rmq_message_clone(message);
  CHECK_RC(rmq_message_set_topic(message, "Other"), RMQ_RESULT_OK);
  CHECK_STR(rmq_message_topic(message), "Other");
  CHECK_STR(rmq_message_topic(copy), "TopicTest");
  rmq_message_free(message);
  CHECK_STR(rmq_message_property(copy, "a"), "2");
  rmq_message_free(copy);

  rmq_message_queue *queue = NULL;
  CHECK_RC(rmq_message_queue_new("TopicTest", "broker-b", 3, &queue), RMQ_RESULT_OK);
  rmq_message_queue *kept = rmq_message_queue_clone(queue);
  rmq_message_queue_free(queue);
  CHECK_STR(rmq_message_queue_topic(kept), "TopicTest");
  CHECK_STR(rmq_message_queue_broker_name(kept), "broker-b");
  CHECK(rmq_message_queue_queue_id(kept) == 3);
  rmq_message_queue_free(kept);
}

/* Batch rules, request timeouts, a plain producer's transaction, all before the network. */
static void feature_calls_are_checked_before_the_network(void) {
  rmq_producer *producer = producer_for("feature_rules", "thread");
  rmq_message *message = message_for("TopicTest", "body");
  rmq_message *reply = NULL;
  rmq_send_result *result = NULL;
  int calls = 0;
  rmq_batch *batch = rmq_batch_new();
  /* Not started yet. */
  CHECK_RC(rmq_producer_send_batch_async(producer, batch, count_delivery, NULL),
           RMQ_RESULT_ILLEGAL_STATE);
  CHECK_RC(rmq_producer_request_async(producer, message, 1000, on_reply, &calls),
           RMQ_RESULT_ILLEGAL_STATE);
  CHECK_RC(rmq_producer_send_with_sharding_key_async(producer, message, "k", count_delivery, NULL),
           RMQ_RESULT_ILLEGAL_STATE);
  CHECK_RC(rmq_producer_start(producer), RMQ_RESULT_OK);

  CHECK_RC(rmq_producer_send_batch_sync(producer, batch, &result), RMQ_RESULT_INVALID_ARGUMENT);
  rmq_message *other = message_for("OtherTopic", "body");
  CHECK_RC(rmq_batch_add(batch, message), RMQ_RESULT_OK);
  CHECK_RC(rmq_batch_add(batch, other), RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_send_batch_sync(producer, batch, &result), RMQ_RESULT_INVALID_MESSAGE);
  CHECK_RC(rmq_producer_send_batch_async(producer, batch, count_delivery, NULL),
           RMQ_RESULT_INVALID_MESSAGE);
  rmq_batch_free(batch);
  batch = rmq_batch_new();
  CHECK_RC(rmq_message_set_deliver_time_ms(other, 1700000000000LL), RMQ_RESULT_OK);
  CHECK_RC(rmq_message_set_topic(other, "TopicTest"), RMQ_RESULT_OK);
  CHECK_RC(rmq_batch_add(batch, other), RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_send_batch_sync(producer, batch, &result), RMQ_RESULT_INVALID_MESSAGE);
  rmq_batch_free(batch);
  batch = rmq_batch_new();
  rmq_message *empty = message_for("TopicTest", "");
  CHECK_RC(rmq_batch_add(batch, empty), RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_send_batch_async(producer, batch, count_delivery, NULL),
           RMQ_RESULT_EMPTY_BODY);
  CHECK(result == NULL);

  CHECK_RC(rmq_producer_request(producer, message, 0, &reply), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_request(producer, message, -5, &reply), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_request_async(producer, empty, 1000, on_reply, &calls),
           RMQ_RESULT_EMPTY_BODY);
  CHECK(reply == NULL && calls == 0);

  rmq_transaction_state state = RMQ_TRANSACTION_STATE_UNKNOWN;
  CHECK_RC(rmq_producer_send_in_transaction(producer, message, commit_local, NULL, &result, &state),
           RMQ_RESULT_ILLEGAL_STATE);

  int hooked = 0;
  CHECK_RC(rmq_producer_add_send_hook(producer, on_hook, on_hook, &hooked), RMQ_RESULT_OK);
  CHECK(hooked == 0);

  rmq_batch_free(batch);
  rmq_message_free(empty);
  rmq_message_free(other);
  rmq_message_free(message);
  rmq_producer_free(producer);
  CHECK(calls == 0);
}

/* A name server that accepts connections and never answers, so that an async call waits for its
 * route until it times out. Writes its address to addr; close the returned socket when done. */
static int silent_namesrv(char *addr, size_t len) {
  struct sockaddr_in sa;
  socklen_t sa_len = sizeof sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  CHECK(fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(fd, 16) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &sa_len) == 0);
  snprintf(addr, len, "127.0.0.1:%d", ntohs(sa.sin_port));
  return fd;
}

/* A started producer on `namesrv`, with `count` more options. */
static rmq_producer *started_producer_on(const char *namesrv, const char *group, const char *mode,
                                         const char *const options[][2], size_t count) {
  rmq_config *config = config_for(group, mode);
  CHECK_RC(rmq_config_set(config, "namesrv_addr", namesrv, NULL, 0), RMQ_RESULT_OK);
  for (size_t i = 0; i < count; i++)
    CHECK_RC(rmq_config_set(config, options[i][0], options[i][1], NULL, 0), RMQ_RESULT_OK);
  rmq_producer *producer = NULL;
  CHECK_RC(rmq_producer_new(config, &producer, NULL, 0), RMQ_RESULT_OK);
  rmq_config_free(config);
  CHECK_RC(rmq_producer_start(producer), RMQ_RESULT_OK);
  return producer;
}

/* backpressure=fail with room for one async call: while a send waits for its route, every async
 * form is refused at once with TOO_MANY_REQUESTS and never calls back; the accepted send calls
 * back exactly once. */
static void async_calls_beyond_the_bound_are_refused_and_never_call_back(void) {
  char namesrv[64];
  int silent = silent_namesrv(namesrv, sizeof namesrv);
  /* Long timeouts: the accepted send must outlast the calls that follow it, even under valgrind. */
  const char *const options[][2] = {{"max_async_in_flight", "1"},
                                    {"backpressure", "fail"},
                                    {"send_timeout_ms", "3000"},
                                    {"client_api_timeout_ms", "3000"}};
  rmq_producer *producer = started_producer_on(namesrv, "bound_fail", "thread", options, 4);
  rmq_message *message = message_for("TopicTest", "body");
  rmq_batch *batch = rmq_batch_new();
  CHECK_RC(rmq_batch_add(batch, message), RMQ_RESULT_OK);
  tally accepted, refused;
  tally_init(&accepted);
  tally_init(&refused);
  int replies = 0;

  CHECK_RC(rmq_producer_send_async(producer, message, count_delivery, &accepted), RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_send_async(producer, message, count_delivery, &refused),
           RMQ_RESULT_TOO_MANY_REQUESTS);
  CHECK_RC(rmq_producer_send_batch_async(producer, batch, count_delivery, &refused),
           RMQ_RESULT_TOO_MANY_REQUESTS);
  CHECK_RC(rmq_producer_send_with_sharding_key_async(producer, message, "k", count_delivery,
                                                     &refused),
           RMQ_RESULT_TOO_MANY_REQUESTS);
  CHECK_RC(rmq_producer_request_async(producer, message, 1000, on_reply, &replies),
           RMQ_RESULT_TOO_MANY_REQUESTS);
  CHECK(rmq_producer_in_flight(producer) <= 1);
  CHECK_RC(rmq_producer_flush(producer, 30000), RMQ_RESULT_OK);
  CHECK(tally_calls(&accepted) == 1 && accepted.failed == 1 && accepted.malformed == 0);
  CHECK(tally_calls(&refused) == 0 && replies == 0);

  rmq_error_free(accepted.kept);
  rmq_batch_free(batch);
  rmq_message_free(message);
  rmq_producer_free(producer);
  close(silent);
}

/* A panic inside the library's task of an async send (made on purpose by the test switch
 * `test.panic_in_sends`) calls the callback once with RMQ_RESULT_INTERNAL; the producer goes on. */
static void a_panic_inside_a_send_task_calls_back_once_with_internal(void) {
  char namesrv[64];
  int silent = silent_namesrv(namesrv, sizeof namesrv);
  const char *const options[][2] = {{"test.panic_in_sends", "1"}, {"send_timeout_ms", "300"}};
  rmq_producer *producer = started_producer_on(namesrv, "panic_in_task", "thread", options, 2);
  rmq_message *message = message_for("TopicTest", "body");
  tally panicked, sent;
  tally_init(&panicked);
  tally_init(&sent);

  CHECK_RC(rmq_producer_send_async(producer, message, count_delivery, &panicked), RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_flush(producer, 30000), RMQ_RESULT_OK);
  CHECK(tally_calls(&panicked) == 1 && panicked.last == RMQ_RESULT_INTERNAL);
  CHECK(panicked.malformed == 0);
  CHECK(panicked.kept != NULL && strstr(rmq_error_message(panicked.kept), "panic") != NULL);
  /* The next send runs: it times out waiting for the silent name server. */
  CHECK_RC(rmq_producer_send_async(producer, message, count_delivery, &sent), RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_flush(producer, 30000), RMQ_RESULT_OK);
  CHECK(tally_calls(&sent) == 1 && sent.last != RMQ_RESULT_INTERNAL && sent.last != RMQ_RESULT_OK);
  CHECK(tally_calls(&panicked) == 1);

  rmq_error_free(panicked.kept);
  rmq_error_free(sent.kept);
  rmq_message_free(message);
  rmq_producer_free(producer);
  close(silent);
}

/* flush waits for an async request as for a send: the request waits for its route from a name
 * server that never answers, and when flush returns its callback has run, in both modes. */
static void flush_waits_for_async_requests(void) {
  char namesrv[64];
  int silent = silent_namesrv(namesrv, sizeof namesrv);
  const char *const slow_namesrv_calls[][2] = {{"client_api_timeout_ms", "3000"}};
  const char *modes[] = {"thread", "poll"};
  for (int i = 0; i < 2; i++) {
    char group[64];
    snprintf(group, sizeof group, "request_flush_%s", modes[i]);
    rmq_producer *producer = started_producer_on(namesrv, group, modes[i], slow_namesrv_calls, 1);
    rmq_message *message = message_for("TopicTest", "question");
    int calls = 0;
    CHECK_RC(rmq_producer_request_async(producer, message, 3000, on_reply, &calls),
             RMQ_RESULT_OK);
    rmq_message_free(message);
    CHECK(rmq_producer_in_flight(producer) == 1);
    CHECK_RC(rmq_producer_flush(producer, 30000), RMQ_RESULT_OK);
    CHECK(calls == 1 && rmq_producer_in_flight(producer) == 0);
    rmq_producer_free(producer);
  }
  close(silent);
}

/* A transactional producer is an rmq_producer: the same lifecycle and sends. */
static void transactional_producers_have_the_producer_lifecycle(void) {
  rmq_config *config = config_for("feature_tx", "thread");
  rmq_producer *producer = NULL;
  char err[256];
  CHECK_RC(rmq_producer_new_transactional(config, commit_check, NULL, &producer, err, sizeof err),
           RMQ_RESULT_OK);
  rmq_config_free(config);
  rmq_message *message = message_for("TopicTest", "body");
  rmq_send_result *result = NULL;
  rmq_transaction_state state = RMQ_TRANSACTION_STATE_UNKNOWN;
  CHECK_RC(rmq_producer_send_in_transaction(producer, message, commit_local, NULL, &result, &state),
           RMQ_RESULT_ILLEGAL_STATE);
  CHECK_RC(rmq_producer_start(producer), RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_start(producer), RMQ_RESULT_ILLEGAL_STATE);
  rmq_message *empty = message_for("TopicTest", "");
  CHECK_RC(rmq_producer_send_in_transaction(producer, empty, commit_local, NULL, &result, &state),
           RMQ_RESULT_EMPTY_BODY);
  CHECK(result == NULL && state == RMQ_TRANSACTION_STATE_UNKNOWN);
  CHECK_RC(rmq_producer_shutdown(producer), RMQ_RESULT_OK);
  CHECK_RC(rmq_producer_send_in_transaction(producer, message, commit_local, NULL, &result, &state),
           RMQ_RESULT_ILLEGAL_STATE);
  rmq_message_free(empty);
  rmq_message_free(message);
  rmq_producer_free(producer);
}

static void feature_options_refuse_bad_values(void) {
  rmq_config *config = rmq_config_new();
  char err[256];
  static const char *const bad[][2] = {
      {"compress_type", "gzip"},        {"backpressure", "drop"},
      {"max_async_in_flight", "-1"},    {"max_async_in_flight_bytes", "lots"},
      {"vip_channel_enabled", "maybe"}, {"tls", "sometimes"},
      {"tls_verify", "2"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    CHECK_RC(rmq_config_set(config, bad[i][0], bad[i][1], err, sizeof err),
             RMQ_RESULT_INVALID_ARGUMENT);
    CHECK(strstr(err, bad[i][0]) != NULL);
  }
  rmq_config_free(config);
}

/* ------------------------------------------------------------------------------------------ */
/* The log callback                                                                           */

typedef struct {
  pthread_mutex_t lock;
  int records;
  int warnings_from_namesrv;
  int below_warn;
} log_tally;

static void count_record(void *userdata, int32_t level, const char *target, const char *message) {
  log_tally *tally = userdata;
  pthread_mutex_lock(&tally->lock);
  tally->records++;
  if (level == RMQ_LOG_WARN && strcmp(target, "rmq_core::client::namesrv") == 0 &&
      strstr(message, "name server failed") != NULL)
    tally->warnings_from_namesrv++;
  if (level > RMQ_LOG_WARN) tally->below_warn++;
  pthread_mutex_unlock(&tally->lock);
}

static int log_records(log_tally *tally) {
  pthread_mutex_lock(&tally->lock);
  int records = tally->records;
  pthread_mutex_unlock(&tally->lock);
  return records;
}

/* A sync send whose route lookup warns: the name server refuses the connection. */
static void send_to_an_unreachable_name_server(const char *group) {
  rmq_producer *producer = producer_for(group, "thread");
  rmq_message *message = message_for("TopicTest", "body");
  rmq_send_result *result = NULL;
  CHECK_RC(rmq_producer_start(producer), RMQ_RESULT_OK);
  CHECK(rmq_producer_send_sync(producer, message, &result) != RMQ_RESULT_OK);
  rmq_message_free(message);
  rmq_producer_free(producer);
}

static void logs_are_silent_by_default_and_reach_the_callback_at_its_level(void) {
  /* By default nothing is printed: stdout and stderr stay empty through a send that warns. */
  char path[] = "/tmp/rmq-log-test-XXXXXX";
  int capture = mkstemp(path);
  CHECK(capture >= 0);
  fflush(stdout);
  fflush(stderr);
  int saved_out = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO);
  dup2(capture, STDOUT_FILENO);
  dup2(capture, STDERR_FILENO);
  send_to_an_unreachable_name_server("log_default_group");
  sleep_ms(200);
  fflush(stdout);
  fflush(stderr);
  dup2(saved_out, STDOUT_FILENO);
  dup2(saved_err, STDERR_FILENO);
  close(saved_out);
  close(saved_err);
  CHECK(lseek(capture, 0, SEEK_END) == 0);
  close(capture);
  unlink(path);

  log_tally tally = {.lock = PTHREAD_MUTEX_INITIALIZER};
  CHECK_RC(rmq_set_log_callback(RMQ_LOG_TRACE + 1, count_record, &tally),
           RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_set_log_callback(-1, count_record, &tally), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_set_log_callback(RMQ_LOG_WARN, count_record, &tally), RMQ_RESULT_OK);
  send_to_an_unreachable_name_server("log_warn_group");
  for (int i = 0; i < 100 && log_records(&tally) == 0; i++) sleep_ms(20);
  pthread_mutex_lock(&tally.lock);
  CHECK(tally.warnings_from_namesrv > 0);
  CHECK(tally.below_warn == 0);
  pthread_mutex_unlock(&tally.lock);

  /* NULL silences the library again. */
  CHECK_RC(rmq_set_log_callback(RMQ_LOG_WARN, NULL, NULL), RMQ_RESULT_OK);
  sleep_ms(100);
  int before = log_records(&tally);
  send_to_an_unreachable_name_server("log_silenced_group");
  sleep_ms(200);
  CHECK(log_records(&tally) == before);
}

static void statistics_of_a_producer_and_their_bad_arguments(void) {
  rmq_producer *producer = producer_for("statistics_offline", "thread");
  char *json = NULL;
  CHECK_RC(rmq_producer_stats(NULL, &json), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_stats(producer, NULL), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK(json == NULL);
  CHECK_RC(rmq_producer_set_statistics_cb(NULL, NULL, NULL), RMQ_RESULT_INVALID_ARGUMENT);
  CHECK_RC(rmq_producer_set_statistics_cb(producer, NULL, NULL), RMQ_RESULT_INVALID_ARGUMENT);
  rmq_string_free(NULL);
  /* Before start: nothing done yet. */
  CHECK_RC(rmq_producer_stats(producer, &json), RMQ_RESULT_OK);
  CHECK(json != NULL && strstr(json, "\"sends\":{},\"attempts\":0") == json + 1);
  rmq_string_free(json);
  rmq_producer_free(producer);
}

int main(void) {
  RUN(version_is_the_crate_version);
  RUN(result_codes_have_stable_names);
  RUN(every_option_is_settable);
  RUN(bad_options_are_invalid_arguments_with_a_message);
  RUN(last_error_is_set_by_failures_and_cleared_by_success);
  RUN(null_arguments_are_reported_never_dereferenced);
  RUN(message_setters_copy_and_check_utf8);
  RUN(producer_needs_a_valid_group);
  RUN(sends_before_start_and_after_shutdown_are_illegal_state);
  RUN(a_group_can_start_once_per_instance);
  RUN(invalid_messages_are_refused_before_the_network);
  RUN(poll_needs_poll_mode_and_waits_when_nothing_is_queued);
  RUN(failed_async_sends_thread_mode);
  RUN(failed_async_sends_poll_mode);
  RUN(sync_send_without_a_name_server_fails_in_time);
  RUN(feature_api_null_arguments_are_reported);
  RUN(messages_read_back_what_was_set);
  RUN(feature_calls_are_checked_before_the_network);
  RUN(async_calls_beyond_the_bound_are_refused_and_never_call_back);
  RUN(flush_waits_for_async_requests);
  RUN(a_panic_inside_a_send_task_calls_back_once_with_internal);
  RUN(transactional_producers_have_the_producer_lifecycle);
  RUN(feature_options_refuse_bad_values);
  RUN(statistics_of_a_producer_and_their_bad_arguments);
  RUN(logs_are_silent_by_default_and_reach_the_callback_at_its_level);
  return harness_finish("test_offline");
}
