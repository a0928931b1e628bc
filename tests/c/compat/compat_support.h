/*
 * A small harness for the compat programs, which include only the official-style headers of
 * rocketmq-client-cpp's C API (no rmqproducer.h): CHECK and a "NAME: N passed, N failed" line, as
 * run-c-tests.sh counts them.
 */
#ifndef RMQ_COMPAT_SUPPORT_H
#define RMQ_COMPAT_SUPPORT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "CErrorMessage.h"

static int compat_passed;
static int compat_failed;
static int compat_current_failed;

#define CHECK(cond)                                                                               \
  do {                                                                                            \
    if (!(cond)) {                                                                                \
      fprintf(stderr, "  FAIL %s:%d: %s (latest error: %s)\n", __FILE__, __LINE__, #cond,         \
              GetLatestErrorMessage());                                                          \
      compat_current_failed = 1;                                                                  \
    }                                                                                             \
  } while (0)

/* Checks that a call returns the expected CStatus. */
#define CHECK_STATUS(call, expected)                                                              \
  do {                                                                                            \
    int compat_status_ = (call);                                                                  \
    if (compat_status_ != (expected)) {                                                           \
      fprintf(stderr, "  FAIL %s:%d: %s returned %d, expected %d (latest error: %s)\n", __FILE__, \
              __LINE__, #call, compat_status_, (int)(expected), GetLatestErrorMessage());        \
      compat_current_failed = 1;                                                                  \
    }                                                                                             \
  } while (0)

/* RMQ_C_TESTS, when set, names the tests to run (space-separated). */
static int compat_selected(const char *name) {
  const char *only = getenv("RMQ_C_TESTS");
  size_t len = strlen(name);
  if (only == NULL || *only == '\0') return 1;
  for (const char *p = strstr(only, name); p != NULL; p = strstr(p + 1, name))
    if ((p == only || p[-1] == ' ') && (p[len] == '\0' || p[len] == ' ')) return 1;
  return 0;
}

static void compat_run(const char *name, void (*test)(void)) {
  if (!compat_selected(name)) return;
  compat_current_failed = 0;
  test();
  if (compat_current_failed) {
    compat_failed++;
    fprintf(stderr, "not ok  %s\n", name);
  } else {
    compat_passed++;
    fprintf(stderr, "ok      %s\n", name);
  }
}

#define RUN(test) compat_run(#test, test)

static int compat_summary(const char *program) {
  printf("%s: %d passed, %d failed\n", program, compat_passed, compat_failed);
  return compat_failed == 0 ? 0 : 1;
}

#endif /* RMQ_COMPAT_SUPPORT_H */
