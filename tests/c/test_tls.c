/*
 * Mutual TLS through the C API, against the launcher's mTLS cluster (`rmq-cluster up --mtls`: one
 * broker that requires a client certificate of the launcher's test CA), named by RMQ_MTLS_* (make
 * test sets them; each test is skipped without them):
 *   - a client certificate from files, or from PEM text, is accepted and the sends are stored
 *     (readback.py reads them back with the Java reader, which presents a client certificate too);
 *   - without a client certificate the broker refuses the connection (RMQ_RESULT_NETWORK);
 *   - the servers' certificates are verified against the launcher's CA: another CA is
 *     RMQ_RESULT_CONNECT;
 *   - bad certificate options fail rmq_producer_start with RMQ_RESULT_INVALID_ARGUMENT.
 */
#include "cluster_support.h"

/* RMQ_MTLS_<name>, or NULL (the test is then skipped). */
static const char *mtls(const char *name) {
  char var[64];
  snprintf(var, sizeof var, "RMQ_MTLS_%s", name);
  const char *value = getenv(var);
  return value && *value ? value : NULL;
}

static int mtls_cluster_named(void) {
  if (mtls("NAMESRV_ADDR") && mtls("PORT_BASE") && mtls("CA_FILE") && mtls("CERT_FILE") &&
      mtls("KEY_FILE") && mtls("UNTRUSTED_CA_FILE"))
    return 1;
  fprintf(stderr, "        skipped: RMQ_MTLS_NAMESRV_ADDR, _PORT_BASE, _CA_FILE, _CERT_FILE, "
                  "_KEY_FILE and _UNTRUSTED_CA_FILE are not all set (make test sets them)\n");
  return 0;
}

/* The whole file, NUL-terminated (free it), or NULL. */
static char *read_text(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  char *text = NULL;
  if (fseek(f, 0, SEEK_END) == 0) {
    long len = ftell(f);
    if (len >= 0 && fseek(f, 0, SEEK_SET) == 0 && (text = malloc((size_t)len + 1)) != NULL) {
      text[fread(text, 1, (size_t)len, f)] = '\0';
    }
  }
  fclose(f);
  return text;
}

/* A producer on the mTLS cluster over TLS verified against the launcher's CA, with the extra
 * `settings` (key/value pairs, a NULL key ends them); not started. Each case has its own client
 * instance: producers of one instance must agree on their TLS settings. */
static rmq_producer *mtls_producer(const char *group_case, const char *settings[][2]) {
  rmq_config *config = rmq_config_new();
  char group[128], err[256];
  snprintf(group, sizeof group, "CTestGroup_%s_%s", group_case, run_name);
  const char *common[][2] = {
      {"group", group},
      {"namesrv_addr", mtls("NAMESRV_ADDR")},
      /* Generous: TLS handshakes are slow under valgrind. */
      {"send_timeout_ms", "20000"},
      {"client_api_timeout_ms", "20000"},
      {"tls", "true"},
      {"tls_ca_file", mtls("CA_FILE")},
      {"instance_name", group_case},
      {"retry_times", "0"},
  };
  for (size_t i = 0; i < sizeof common / sizeof common[0]; i++)
    CHECK_RC(rmq_config_set(config, common[i][0], common[i][1], err, sizeof err), RMQ_RESULT_OK);
  for (size_t i = 0; settings[i][0]; i++)
    CHECK_RC(rmq_config_set(config, settings[i][0], settings[i][1], err, sizeof err),
             RMQ_RESULT_OK);
  rmq_producer *p = NULL;
  CHECK_RC(rmq_producer_new(config, &p, err, sizeof err), RMQ_RESULT_OK);
  rmq_config_free(config);
  return p;
}

static void last_error_contains(const char *expected) {
  char message[512];
  rmq_last_error_message(message, sizeof message);
  CHECK(strstr(message, expected) != NULL);
  if (!strstr(message, expected))
    fprintf(stderr, "  last error \"%s\" does not name \"%s\"\n", message, expected);
}

/* Two sync sends that must be stored in the mTLS cluster (the manifest says where to read). */
static void sends_are_stored(rmq_producer *p) {
  char extra[64];
  snprintf(extra, sizeof extra, "\"portBase\":%s", mtls("PORT_BASE"));
  for (int i = 0; i < 2; i++) {
    sent_message *m = sent_text("Mtls", "over mutual TLS");
    rmq_message *message = to_message(m);
    rmq_send_result *result = NULL;
    CHECK_RC(rmq_producer_send_sync(p, message, &result), RMQ_RESULT_OK);
    if (result) record_stored_with(m, rmq_send_result_msg_id(result), extra);
    rmq_send_result_free(result);
    rmq_message_free(message);
    sent_free(m);
  }
}

static void client_certificates_from_files_and_pem_text_are_accepted(void) {
  if (!mtls_cluster_named()) return;
  const char *files[][2] = {
      {"tls_cert_file", mtls("CERT_FILE")}, {"tls_key_file", mtls("KEY_FILE")}, {NULL, NULL}};
  rmq_producer *p = mtls_producer("mtls_files", files);
  CHECK_RC(rmq_producer_start(p), RMQ_RESULT_OK);
  sends_are_stored(p);
  rmq_producer_free(p);

  char *cert = read_text(mtls("CERT_FILE")), *key = read_text(mtls("KEY_FILE"));
  CHECK(cert && key);
  if (cert && key) {
    /* The servers' certificates name localhost as well as 127.0.0.1. */
    const char *pem[][2] = {{"tls_cert_pem", cert},
                            {"tls_key_pem", key},
                            {"tls_server_name", "localhost"},
                            {NULL, NULL}};
    p = mtls_producer("mtls_pem", pem);
    CHECK_RC(rmq_producer_start(p), RMQ_RESULT_OK);
    sends_are_stored(p);
    rmq_producer_free(p);
  }
  free(cert);
  free(key);
}

/* One send with `settings` on a started producer: its result code (nothing is stored). */
static rmq_result refused_send(const char *group_case, const char *settings[][2]) {
  rmq_producer *p = mtls_producer(group_case, settings);
  CHECK_RC(rmq_producer_start(p), RMQ_RESULT_OK);
  sent_message *m = sent_text("MtlsRefused", "never stored");
  rmq_message *message = to_message(m);
  rmq_send_result *result = NULL;
  rmq_result rc = rmq_producer_send_sync(p, message, &result);
  CHECK(result == NULL);
  rmq_message_free(message);
  sent_free(m);
  rmq_producer_free(p);
  return rc;
}

static void without_a_client_certificate_the_broker_refuses(void) {
  if (!mtls_cluster_named()) return;
  const char *none[][2] = {{NULL, NULL}};
  /* The broker's TLS alert closes the connection under the first request. */
  CHECK_RC(refused_send("mtls_without", none), RMQ_RESULT_NETWORK);
  char broker[64];
  snprintf(broker, sizeof broker, "connection to 127.0.0.1:%d", atoi(mtls("PORT_BASE")) + 100);
  last_error_contains(broker);
}

static void a_server_not_signed_by_the_trusted_ca_is_refused(void) {
  if (!mtls_cluster_named()) return;
  const char *wrong_ca[][2] = {{"tls_ca_file", mtls("UNTRUSTED_CA_FILE")},
                               {"tls_cert_file", mtls("CERT_FILE")},
                               {"tls_key_file", mtls("KEY_FILE")},
                               {NULL, NULL}};
  CHECK_RC(refused_send("mtls_wrong_ca", wrong_ca), RMQ_RESULT_CONNECT);
  last_error_contains("TLS handshake");
}

static void bad_certificate_options_fail_start(void) {
  if (!mtls_cluster_named()) return;
  const char *missing[][2] = {{"tls_cert_file", "/nonexistent/client.pem"},
                              {"tls_key_file", mtls("KEY_FILE")},
                              {NULL, NULL}};
  rmq_producer *p = mtls_producer("mtls_missing", missing);
  CHECK_RC(rmq_producer_start(p), RMQ_RESULT_INVALID_ARGUMENT);
  last_error_contains("'tls_cert_file' (/nonexistent/client.pem)");
  rmq_producer_free(p);

  const char *no_key[][2] = {{"tls_cert_file", mtls("CERT_FILE")}, {NULL, NULL}};
  p = mtls_producer("mtls_no_key", no_key);
  CHECK_RC(rmq_producer_start(p), RMQ_RESULT_INVALID_ARGUMENT);
  last_error_contains("without 'tls_key_file' or 'tls_key_pem'");
  rmq_producer_free(p);
}

int main(void) {
  int setup = cluster_setup("test_tls");
  if (setup != 0) return setup;
  RUN(client_certificates_from_files_and_pem_text_are_accepted);
  RUN(without_a_client_certificate_the_broker_refuses);
  RUN(a_server_not_signed_by_the_trusted_ca_is_refused);
  RUN(bad_certificate_options_fail_start);
  fclose(manifest);
  return harness_finish("test_tls");
}
