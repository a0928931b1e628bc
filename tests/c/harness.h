/*
 * A tiny test harness for the C tests of librmqproducer. A test is a void function; CHECK and
 * friends record a failure (with file, line and the library's last error) and go on. The program
 * ends with harness_finish(), which prints "<suite>: N passed, N failed" and returns the exit code.
 */
#ifndef RMQ_TEST_HARNESS_H
#define RMQ_TEST_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rmqproducer.h"

static int harness_passed;
static int harness_failed;
static int harness_current_failed;

static void harness_fail(const char *file, int line, const char *what) {
  char last[512];
  rmq_last_error_message(last, sizeof last);
  fprintf(stderr, "  FAIL %s:%d: %s (last error: %s: %s)\n", file, line, what,
          rmq_result_name(rmq_last_error_code()), last);
  harness_current_failed = 1;
}

#define CHECK(cond)                                                                               \
  do {                                                                                            \
    if (!(cond)) harness_fail(__FILE__, __LINE__, #cond);                                          \
  } while (0)

/* Checks that a call returns the expected rmq_result, naming both when it does not. */
#define CHECK_RC(call, expected)                                                                  \
  do {                                                                                            \
    rmq_result harness_rc_ = (call);                                                              \
    if (harness_rc_ != (expected)) {                                                              \
      char harness_msg_[512];                                                                     \
      snprintf(harness_msg_, sizeof harness_msg_, "%s returned %s, expected %s", #call,           \
               rmq_result_name((int)harness_rc_), rmq_result_name((int)(expected)));              \
      harness_fail(__FILE__, __LINE__, harness_msg_);                                             \
    }                                                                                             \
  } while (0)

#define CHECK_STR(actual, expected)                                                               \
  do {                                                                                            \
    const char *harness_a_ = (actual);                                                            \
    if (harness_a_ == NULL || strcmp(harness_a_, (expected)) != 0) {                               \
      char harness_msg_[512];                                                                     \
      snprintf(harness_msg_, sizeof harness_msg_, "%s is \"%s\", expected \"%s\"", #actual,       \
               harness_a_ ? harness_a_ : "(null)", (expected));                                   \
      harness_fail(__FILE__, __LINE__, harness_msg_);                                             \
    }                                                                                             \
  } while (0)

#define RUN(test) harness_run(#test, test)

/* RMQ_C_TESTS, when set, names the tests to run (space-separated): make c-test-send-path. */
static int harness_selected(const char *name) {
  const char *only = getenv("RMQ_C_TESTS");
  size_t len = strlen(name);
  if (only == NULL || *only == '\0') return 1;
  for (const char *at = strstr(only, name); at != NULL; at = strstr(at + 1, name)) {
    int starts = at == only || at[-1] == ' ';
    int ends = at[len] == '\0' || at[len] == ' ';
    if (starts && ends) return 1;
  }
  return 0;
}

static void harness_run(const char *name, void (*test)(void)) {
  if (!harness_selected(name)) {
    fprintf(stderr, "skip    %s (not in RMQ_C_TESTS)\n", name);
    return;
  }
  harness_current_failed = 0;
  test();
  if (harness_current_failed) {
    harness_failed++;
    fprintf(stderr, "not ok  %s\n", name);
  } else {
    harness_passed++;
    fprintf(stderr, "ok      %s\n", name);
  }
}

static int harness_finish(const char *suite) {
  printf("%s: %d passed, %d failed\n", suite, harness_passed, harness_failed);
  fflush(stdout);
  return harness_failed == 0 ? 0 : 1;
}

#endif /* RMQ_TEST_HARNESS_H */
