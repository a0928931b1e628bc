/*
 * Bad input to the rocketmq-client-cpp C API shim, without a cluster: NULL arguments are
 * NULL_POINTER (never a crash), sends on a producer not started fail with each form's code,
 * refused settings are PRODUCER_START_FAILED (or Not_Support), and GetLatestErrorMessage says why.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "CBatchMessage.h"
#include "CCommon.h"
#include "CErrorMessage.h"
#include "CMessage.h"
#include "CMessageQueue.h"
#include "CProducer.h"
#include "CSendResult.h"
#include "CTransactionStatus.h"
#include "compat_support.h"

static int pick_first(int size, CMessage *msg, void *arg) {
  (void)size;
  (void)msg;
  (void)arg;
  return 0;
}
static void on_success(CSendResult result) { (void)result; }
static void on_exception(CMQException e) { (void)e; }
static void on_success_data(CSendResult result, CMessage *msg, void *data) {
  (void)result;
  (void)msg;
  (void)data;
}
static void on_exception_data(CMQException e, CMessage *msg, void *data) {
  (void)e;
  (void)msg;
  (void)data;
}
static CTransactionStatus execute(CProducer *producer, CMessage *msg, void *data) {
  (void)producer;
  (void)msg;
  (void)data;
  return E_COMMIT_TRANSACTION;
}
static CTransactionStatus check(CProducer *producer, CMessageExt *msg, void *data) {
  (void)producer;
  (void)msg;
  (void)data;
  return E_UNKNOWN_TRANSACTION;
}

static void the_official_values(void) {
  CHECK(OK == 0 && NULL_POINTER == 1 && MALLOC_FAILED == 2 && PRODUCER_START_FAILED == 10);
  CHECK(PRODUCER_SEND_SYNC_FAILED == 11 && PRODUCER_SEND_ONEWAY_FAILED == 12);
  CHECK(PRODUCER_SEND_ORDERLY_FAILED == 13 && PRODUCER_SEND_ASYNC_FAILED == 14);
  CHECK(PRODUCER_SEND_ORDERLYASYNC_FAILED == 15 && PRODUCER_SEND_TRANSACTION_FAILED == 16);
  CHECK(Not_Support == 500 && NOT_SUPPORT_NOW == -1 && OPEN == 0 && CLOSE == 1);
  CHECK(E_SEND_OK == 0 && E_SEND_SLAVE_NOT_AVAILABLE == 3 && E_UNKNOWN_TRANSACTION == 2);
  CHECK(sizeof(((CSendResult *)0)->msgId) == MAX_MESSAGE_ID_LENGTH);
  CHECK(sizeof(((CMQException *)0)->msg) == MAX_EXEPTION_MSG_LENGTH);
  CHECK(sizeof(((CMessageQueue *)0)->topic) == MAX_TOPIC_LENGTH);
}

static void null_arguments_are_null_pointer(void) {
  CProducer *p = CreateProducer("CompatOfflineGroup");
  CMessage *msg = CreateMessage("CompatOffline");
  CBatchMessage *batch = CreateBatchMessage();
  CSendResult result;
  int arg = 0;
  CHECK(p != NULL && msg != NULL && batch != NULL);
  CHECK(CreateProducer(NULL) == NULL && CreateOrderlyProducer(NULL) == NULL);
  CHECK(CreateTransactionProducer(NULL, check, NULL) == NULL);
  CHECK(CreateTransactionProducer("g", NULL, NULL) == NULL);

  CHECK_STATUS(DestroyProducer(NULL), NULL_POINTER);
  CHECK_STATUS(StartProducer(NULL), NULL_POINTER);
  CHECK_STATUS(ShutdownProducer(NULL), NULL_POINTER);
  CHECK(ShowProducerVersion(NULL) == NULL);
  CHECK(ShowProducerVersion(p) != NULL);
  CHECK_STATUS(SetProducerNameServerAddress(NULL, "a:1"), NULL_POINTER);
  CHECK_STATUS(SetProducerNameServerAddress(p, NULL), NULL_POINTER);
  CHECK_STATUS(SetProducerNameServerDomain(NULL, "d"), NULL_POINTER);
  CHECK_STATUS(SetProducerNameServerDomain(p, NULL), NULL_POINTER);
  CHECK_STATUS(SetProducerGroupName(NULL, "g"), NULL_POINTER);
  CHECK_STATUS(SetProducerGroupName(p, NULL), NULL_POINTER);
  CHECK_STATUS(SetProducerInstanceName(NULL, "i"), NULL_POINTER);
  CHECK_STATUS(SetProducerInstanceName(p, NULL), NULL_POINTER);
  CHECK_STATUS(SetProducerSessionCredentials(NULL, "a", "s", "c"), NULL_POINTER);
  CHECK_STATUS(SetProducerSessionCredentials(p, NULL, "s", "c"), NULL_POINTER);
  CHECK_STATUS(SetProducerSessionCredentials(p, "a", NULL, "c"), NULL_POINTER);
  CHECK_STATUS(SetProducerSessionCredentials(p, "a", "s", NULL), NULL_POINTER);
  CHECK_STATUS(SetProducerLogPath(NULL, "/tmp"), NULL_POINTER);
  CHECK_STATUS(SetProducerLogPath(p, NULL), NULL_POINTER);
  CHECK_STATUS(SetProducerLogFileNumAndSize(NULL, 3, 100), NULL_POINTER);
  CHECK_STATUS(SetProducerLogLevel(NULL, E_LOG_LEVEL_INFO), NULL_POINTER);
  CHECK_STATUS(SetProducerSendMsgTimeout(NULL, 3000), NULL_POINTER);
  CHECK_STATUS(SetProducerCompressLevel(NULL, 5), NULL_POINTER);
  CHECK_STATUS(SetProducerMaxMessageSize(NULL, 1024), NULL_POINTER);
  CHECK_STATUS(SetProducerMessageTrace(NULL, OPEN), NULL_POINTER);
  CHECK_STATUS(SetProducerSsl(NULL, 1), NULL_POINTER);
  CHECK_STATUS(SetProducerSslPropertyFile(NULL, "f"), NULL_POINTER);
  CHECK_STATUS(SetProducerSslPropertyFile(p, NULL), NULL_POINTER);

  CHECK_STATUS(SendMessageSync(NULL, msg, &result), NULL_POINTER);
  CHECK_STATUS(SendMessageSync(p, NULL, &result), NULL_POINTER);
  CHECK_STATUS(SendMessageSync(p, msg, NULL), NULL_POINTER);
  CHECK_STATUS(SendBatchMessage(NULL, batch, &result), NULL_POINTER);
  CHECK_STATUS(SendBatchMessage(p, NULL, &result), NULL_POINTER);
  CHECK_STATUS(SendBatchMessage(p, batch, NULL), NULL_POINTER);
  CHECK_STATUS(SendMessageAsync(NULL, msg, on_success, on_exception), NULL_POINTER);
  CHECK_STATUS(SendMessageAsync(p, NULL, on_success, on_exception), NULL_POINTER);
  CHECK_STATUS(SendMessageAsync(p, msg, NULL, on_exception), NULL_POINTER);
  CHECK_STATUS(SendMessageAsync(p, msg, on_success, NULL), NULL_POINTER);
  CHECK_STATUS(SendAsync(NULL, msg, on_success_data, on_exception_data, NULL), NULL_POINTER);
  CHECK_STATUS(SendAsync(p, NULL, on_success_data, on_exception_data, NULL), NULL_POINTER);
  CHECK_STATUS(SendAsync(p, msg, NULL, on_exception_data, NULL), NULL_POINTER);
  CHECK_STATUS(SendAsync(p, msg, on_success_data, NULL, NULL), NULL_POINTER);
  CHECK_STATUS(SendMessageOneway(NULL, msg), NULL_POINTER);
  CHECK_STATUS(SendMessageOneway(p, NULL), NULL_POINTER);
  CHECK_STATUS(SendMessageOnewayOrderly(NULL, msg, pick_first, &arg), NULL_POINTER);
  CHECK_STATUS(SendMessageOnewayOrderly(p, NULL, pick_first, &arg), NULL_POINTER);
  CHECK_STATUS(SendMessageOnewayOrderly(p, msg, NULL, &arg), NULL_POINTER);
  CHECK_STATUS(SendMessageOrderly(NULL, msg, pick_first, &arg, 0, &result), NULL_POINTER);
  CHECK_STATUS(SendMessageOrderly(p, NULL, pick_first, &arg, 0, &result), NULL_POINTER);
  CHECK_STATUS(SendMessageOrderly(p, msg, NULL, &arg, 0, &result), NULL_POINTER);
  CHECK_STATUS(SendMessageOrderly(p, msg, pick_first, NULL, 0, &result), NULL_POINTER);
  CHECK_STATUS(SendMessageOrderly(p, msg, pick_first, &arg, 0, NULL), NULL_POINTER);
  CHECK_STATUS(SendMessageOrderlyAsync(NULL, msg, pick_first, &arg, on_success, on_exception),
               NULL_POINTER);
  CHECK_STATUS(SendMessageOrderlyAsync(p, NULL, pick_first, &arg, on_success, on_exception),
               NULL_POINTER);
  CHECK_STATUS(SendMessageOrderlyAsync(p, msg, NULL, &arg, on_success, on_exception),
               NULL_POINTER);
  CHECK_STATUS(SendMessageOrderlyAsync(p, msg, pick_first, &arg, NULL, on_exception),
               NULL_POINTER);
  CHECK_STATUS(SendMessageOrderlyAsync(p, msg, pick_first, &arg, on_success, NULL),
               NULL_POINTER);
  CHECK_STATUS(SendMessageOrderlyByShardingKey(NULL, msg, "k", &result), NULL_POINTER);
  CHECK_STATUS(SendMessageOrderlyByShardingKey(p, NULL, "k", &result), NULL_POINTER);
  CHECK_STATUS(SendMessageOrderlyByShardingKey(p, msg, NULL, &result), NULL_POINTER);
  CHECK_STATUS(SendMessageOrderlyByShardingKey(p, msg, "k", NULL), NULL_POINTER);
  CHECK_STATUS(SendMessageTransaction(NULL, msg, execute, NULL, &result), NULL_POINTER);
  CHECK_STATUS(SendMessageTransaction(p, NULL, execute, NULL, &result), NULL_POINTER);
  CHECK_STATUS(SendMessageTransaction(p, msg, NULL, NULL, &result), NULL_POINTER);
  CHECK_STATUS(SendMessageTransaction(p, msg, execute, NULL, NULL), NULL_POINTER);

  CHECK_STATUS(DestroyMessage(NULL), NULL_POINTER);
  CHECK_STATUS(SetMessageTopic(NULL, "t"), NULL_POINTER);
  CHECK_STATUS(SetMessageTopic(msg, NULL), NULL_POINTER);
  CHECK_STATUS(SetMessageTags(NULL, "t"), NULL_POINTER);
  CHECK_STATUS(SetMessageTags(msg, NULL), NULL_POINTER);
  CHECK_STATUS(SetMessageKeys(NULL, "k"), NULL_POINTER);
  CHECK_STATUS(SetMessageKeys(msg, NULL), NULL_POINTER);
  CHECK_STATUS(SetMessageBody(NULL, "b"), NULL_POINTER);
  CHECK_STATUS(SetMessageBody(msg, NULL), NULL_POINTER);
  CHECK_STATUS(SetByteMessageBody(NULL, "b", 1), NULL_POINTER);
  CHECK_STATUS(SetByteMessageBody(msg, NULL, 1), NULL_POINTER);
  CHECK_STATUS(SetMessageProperty(NULL, "k", "v"), NULL_POINTER);
  CHECK_STATUS(SetMessageProperty(msg, NULL, "v"), NULL_POINTER);
  CHECK_STATUS(SetMessageProperty(msg, "k", NULL), NULL_POINTER);
  CHECK_STATUS(SetDelayTimeLevel(NULL, 1), NULL_POINTER);
  CHECK(GetOriginMessageTopic(NULL) == NULL && GetOriginMessageTags(NULL) == NULL);
  CHECK(GetOriginMessageKeys(NULL) == NULL && GetOriginMessageBody(NULL) == NULL);
  CHECK(GetOriginMessageBodyLength(NULL) == 0 && GetOriginDelayTimeLevel(NULL) == -1);
  CHECK(GetOriginMessageProperty(NULL, "k") == NULL && GetOriginMessageProperty(msg, NULL) == NULL);
  CHECK(GetMessageTopic(NULL) == NULL && GetMessageBody(NULL) == NULL);
  CHECK(GetMessageId(NULL) == NULL);
  CHECK(GetMessageProperty(NULL, "k") == NULL && GetMessageBornTimestamp(NULL) == 0);

  CHECK_STATUS(AddMessage(NULL, msg), NULL_POINTER);
  CHECK_STATUS(AddMessage(batch, NULL), NULL_POINTER);
  CHECK_STATUS(DestroyBatchMessage(NULL), NULL_POINTER);

  CHECK_STATUS(DestroyBatchMessage(batch), OK);
  CHECK_STATUS(DestroyMessage(msg), OK);
  CHECK_STATUS(DestroyProducer(p), OK);
}

static void messages_keep_what_was_set(void) {
  CMessage *msg = CreateMessage(NULL);
  CHECK_STATUS(SetMessageTopic(msg, "CompatTopic"), OK);
  CHECK_STATUS(SetMessageTags(msg, "TagA"), OK);
  CHECK_STATUS(SetMessageKeys(msg, "k1 k2"), OK);
  CHECK_STATUS(SetMessageProperty(msg, "p", "v"), OK);
  CHECK_STATUS(SetDelayTimeLevel(msg, 3), OK);
  CHECK_STATUS(SetByteMessageBody(msg, "a\0b", 3), OK);
  CHECK(strcmp(GetOriginMessageTopic(msg), "CompatTopic") == 0);
  CHECK(strcmp(GetOriginMessageTags(msg), "TagA") == 0);
  CHECK(strcmp(GetOriginMessageKeys(msg), "k1 k2") == 0);
  CHECK(strcmp(GetOriginMessageProperty(msg, "p"), "v") == 0);
  CHECK(GetOriginDelayTimeLevel(msg) == 3);
  CHECK(GetOriginMessageBodyLength(msg) == 3 && memcmp(GetOriginMessageBody(msg), "a\0b", 4) == 0);
  CHECK_STATUS(SetMessageBody(msg, "text"), OK);
  CHECK(GetOriginMessageBodyLength(msg) == 4 && strcmp(GetOriginMessageBody(msg), "text") == 0);
  CHECK_STATUS(DestroyMessage(msg), OK);
}

static void unstarted_producers_refuse_sends_with_each_forms_code(void) {
  CProducer *p = CreateProducer("CompatOfflineGroup");
  CMessage *msg = CreateMessage("CompatOffline");
  CBatchMessage *batch = CreateBatchMessage();
  CSendResult result;
  int arg = 0;
  CHECK_STATUS(SetMessageBody(msg, "body"), OK);
  CHECK_STATUS(AddMessage(batch, msg), OK);
  CHECK_STATUS(SendMessageSync(p, msg, &result), PRODUCER_SEND_SYNC_FAILED);
  CHECK(strstr(GetLatestErrorMessage(), "not started") != NULL);
  CHECK_STATUS(SendBatchMessage(p, batch, &result), PRODUCER_SEND_SYNC_FAILED);
  CHECK_STATUS(SendMessageOneway(p, msg), PRODUCER_SEND_ONEWAY_FAILED);
  CHECK_STATUS(SendMessageOnewayOrderly(p, msg, pick_first, &arg), PRODUCER_SEND_ONEWAY_FAILED);
  CHECK_STATUS(SendMessageOrderly(p, msg, pick_first, &arg, 1, &result),
               PRODUCER_SEND_ORDERLY_FAILED);
  CHECK_STATUS(SendMessageOrderlyByShardingKey(p, msg, "k", &result), PRODUCER_SEND_ORDERLY_FAILED);
  CHECK_STATUS(SendMessageAsync(p, msg, on_success, on_exception), PRODUCER_SEND_ASYNC_FAILED);
  CHECK_STATUS(SendAsync(p, msg, on_success_data, on_exception_data, NULL),
               PRODUCER_SEND_ASYNC_FAILED);
  CHECK_STATUS(SendMessageOrderlyAsync(p, msg, pick_first, &arg, on_success, on_exception),
               PRODUCER_SEND_ORDERLYASYNC_FAILED);
  CHECK_STATUS(SendMessageTransaction(p, msg, execute, NULL, &result),
               PRODUCER_SEND_TRANSACTION_FAILED);
  CHECK(strstr(GetLatestErrorMessage(), "SendMessageTransaction") != NULL);
  CHECK_STATUS(ShutdownProducer(p), OK); /* not started: nothing to do */
  CHECK_STATUS(DestroyBatchMessage(batch), OK);
  CHECK_STATUS(DestroyMessage(msg), OK);
  CHECK_STATUS(DestroyProducer(p), OK);
}

static void refused_settings_say_why(void) {
  CProducer *p = CreateTransactionProducer("CompatOfflineTx", check, NULL);
  CHECK(p != NULL);
  CHECK_STATUS(SetProducerCompressLevel(p, 42), PRODUCER_START_FAILED);
  CHECK(strstr(GetLatestErrorMessage(), "compress_level") != NULL);
  CHECK_STATUS(SetProducerSendMsgTimeout(p, -5), PRODUCER_START_FAILED);
  CHECK_STATUS(SetProducerNameServerDomain(p, "jmenv.example"), Not_Support);
  CHECK(strstr(GetLatestErrorMessage(), "SetProducerNameServerDomain") != NULL);
  CHECK_STATUS(SetProducerSslPropertyFile(p, "/etc/tls.properties"), Not_Support);
  CHECK_STATUS(SetProducerLogPath(p, "/tmp"), OK);
  CHECK_STATUS(SetProducerLogFileNumAndSize(p, 3, 100), OK);
  CHECK_STATUS(SetProducerLogLevel(p, E_LOG_LEVEL_DEBUG), OK);
  CHECK_STATUS(SetProducerSessionCredentials(p, "ak", "sk", "ALIYUN"), OK);
  CHECK_STATUS(SetProducerMessageTrace(p, CLOSE), OK);
  CHECK_STATUS(SetProducerMaxMessageSize(p, 1 << 20), OK);
  CHECK_STATUS(SetProducerInstanceName(p, "compat"), OK);
  /* The group is checked when the producer is made, at start. */
  CHECK_STATUS(SetProducerGroupName(p, "bad group name with spaces!"), OK);
  CHECK_STATUS(StartProducer(p), PRODUCER_START_FAILED);
  CHECK(strstr(GetLatestErrorMessage(), "group") != NULL);
  CHECK_STATUS(DestroyProducer(p), OK);
}

/* Silent until SetProducerLogLevel; then the library's warnings go to rocketmq_client.log in the
 * SetProducerLogPath directory (a send to a name server that refuses connections warns). */
static void the_log_level_sends_records_to_the_log_file(void) {
  char dir[] = "/tmp/rmq-compat-log-XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char nested[64], path[96];
  snprintf(nested, sizeof nested, "%s/logs/rocketmq", dir);
  snprintf(path, sizeof path, "%s/rocketmq_client.log", nested);
  CProducer *producer = CreateProducer("compat_log_group");
  CHECK(SetProducerNameServerAddress(producer, "127.0.0.1:1") == OK);
  CHECK(SetProducerSendMsgTimeout(producer, 500) == OK);
  CHECK(SetProducerLogPath(producer, nested) == OK);
  CHECK(SetProducerLogLevel(producer, (CLogLevel)42) == PRODUCER_START_FAILED);
  CHECK(strstr(GetLatestErrorMessage(), "CLogLevel") != NULL);
  CHECK(SetProducerLogLevel(producer, E_LOG_LEVEL_WARN) == OK);
  CHECK(StartProducer(producer) == OK);
  CMessage *msg = CreateMessage("CompatLogTopic");
  SetMessageBody(msg, "logged");
  CSendResult result;
  CHECK(SendMessageSync(producer, msg, &result) == PRODUCER_SEND_SYNC_FAILED);
  int logged = 0;
  for (int i = 0; i < 100 && !logged; i++) {
    struct timespec pause = {0, 20 * 1000 * 1000};
    nanosleep(&pause, NULL);
    FILE *file = fopen(path, "r");
    char line[1024];
    while (file != NULL && !logged && fgets(line, sizeof line, file) != NULL)
      logged = strstr(line, "WARN rmq_core::client::namesrv: name server failed") != NULL;
    if (file != NULL) fclose(file);
  }
  CHECK(logged);
  DestroyMessage(msg);
  CHECK(ShutdownProducer(producer) == OK);
  CHECK(DestroyProducer(producer) == OK);
  remove(path);
  rmdir(nested);
  snprintf(nested, sizeof nested, "%s/logs", dir);
  rmdir(nested);
  rmdir(dir);
}

int main(void) {
  RUN(the_official_values);
  RUN(null_arguments_are_null_pointer);
  RUN(messages_keep_what_was_set);
  RUN(unstarted_producers_refuse_sends_with_each_forms_code);
  RUN(refused_settings_say_why);
  RUN(the_log_level_sends_records_to_the_log_file);
  return compat_summary("compat_offline");
}
