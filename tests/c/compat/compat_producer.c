/*
 * Programs written for rocketmq-client-cpp's C API, in the shape of its samples (create, set the
 * name server, start, send, shut down, destroy), built with its header names only and linked with
 * -lrocketmq: librmqproducer's shim must run them unchanged on the cluster. Every acknowledged
 * message goes to the manifest ($RMQ_C_TEST_MANIFEST) that readback.py compares with the store.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "CBatchMessage.h"
#include "CCommon.h"
#include "CMessage.h"
#include "CProducer.h"
#include "CSendResult.h"
#include "compat_support.h"
#include "manifest.h"

/* A committed transaction message: the commit type in sysFlag, the broker's own properties. */
#define COMMITTED_TRANSACTION                                                                     \
  "\"sysFlag\":8,\"sysFlagMask\":12,\"mayRepeat\":true,"                                          \
  "\"brokerProps\":[\"__transactionId__\",\"TRANSACTION_CHECK_TIMES\"]"

/* A message as the official samples make it, with the manifest's tags, keys and properties. */
static CMessage *to_cmessage(const sent_message *m) {
  CHECK(prepare_topic(m->topic) == 0);
  CMessage *msg = CreateMessage(m->topic);
  CHECK(msg != NULL);
  CHECK_STATUS(SetMessageTags(msg, m->tags), OK);
  CHECK_STATUS(SetMessageKeys(msg, m->keys), OK);
  CHECK_STATUS(SetMessageProperty(msg, "c_id", m->id), OK);
  CHECK_STATUS(SetMessageProperty(msg, "lang", "C"), OK);
  CHECK_STATUS(SetMessageProperty(msg, "greeting", "h\xc3\xa9llo w\xc3\xb6rld"), OK);
  CHECK_STATUS(SetByteMessageBody(msg, (const char *)m->body, (int)m->body_len), OK);
  return msg;
}

static CProducer *started_producer(const char *group_case) {
  char group[128];
  snprintf(group, sizeof group, "CompatGroup_%s_%s", group_case, run_name);
  CProducer *producer = CreateProducer(group);
  CHECK(producer != NULL);
  CHECK_STATUS(SetProducerNameServerAddress(producer, namesrv), OK);
  CHECK_STATUS(SetProducerSendMsgTimeout(producer, 10000), OK);
  CHECK_STATUS(SetProducerLogLevel(producer, E_LOG_LEVEL_INFO), OK);
  CHECK_STATUS(StartProducer(producer), OK);
  return producer;
}

static void stop_producer(CProducer *producer) {
  CHECK_STATUS(ShutdownProducer(producer), OK);
  CHECK_STATUS(DestroyProducer(producer), OK);
}

/* ------------------------------------------------------------------------------------------ */

static void on_async_success(CSendResult result);
static void on_async_exception(CMQException e);

static void sync_sends(void) {
  CProducer *producer = started_producer("Sync");
  for (int i = 0; i < 3 * scale; i++) {
    char body[64];
    snprintf(body, sizeof body, "sync message %d", i);
    sent_message *m = sent_text("CompatSync", body);
    CMessage *msg = to_cmessage(m);
    CSendResult result;
    CHECK_STATUS(SendMessageSync(producer, msg, &result), OK);
    CHECK(result.sendStatus == E_SEND_OK);
    CHECK(strlen(result.msgId) > 0 && result.offset >= 0);
    record_stored(m, result.msgId);
    CHECK(strcmp(GetOriginMessageTopic(msg), m->topic) == 0);
    CHECK(GetOriginMessageBodyLength(msg) == (int)m->body_len);
    DestroyMessage(msg);
    sent_free(m);
  }
  /* After shutdown, every send form fails with its code and says why. */
  CHECK_STATUS(ShutdownProducer(producer), OK);
  CMessage *late = CreateMessage("CompatSyncLate");
  CHECK_STATUS(SetMessageBody(late, "too late"), OK);
  CSendResult result;
  CHECK_STATUS(SendMessageSync(producer, late, &result), PRODUCER_SEND_SYNC_FAILED);
  CHECK(strlen(GetLatestErrorMessage()) > 0);
  CHECK_STATUS(SendMessageOneway(producer, late), PRODUCER_SEND_ONEWAY_FAILED);
  CHECK_STATUS(SendMessageAsync(producer, late, on_async_success, on_async_exception),
               PRODUCER_SEND_ASYNC_FAILED);
  CHECK_STATUS(SendMessageOrderlyByShardingKey(producer, late, "k", &result),
               PRODUCER_SEND_ORDERLY_FAILED);
  DestroyMessage(late);
  CHECK_STATUS(DestroyProducer(producer), OK);
}

/* SendMessageAsync's callbacks carry no user data: one send at a time, its message here. */
static pthread_mutex_t async_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t async_done = PTHREAD_COND_INITIALIZER;
static sent_message *async_current;
static int async_outcomes;
static int async_failures;
static int async_on_main_thread;

static void async_outcome(const char *msg_id) {
  pthread_mutex_lock(&async_lock);
  if (msg_id != NULL) record_stored(async_current, msg_id); else async_failures++;
  if (pthread_equal(pthread_self(), main_thread)) async_on_main_thread++;
  async_outcomes++;
  pthread_cond_broadcast(&async_done);
  pthread_mutex_unlock(&async_lock);
}

static void on_async_success(CSendResult result) {
  async_outcome(result.sendStatus == E_SEND_OK && result.msgId[0] ? result.msgId : NULL);
}

static void on_async_exception(CMQException e) {
  fprintf(stderr, "  async send failed: %d %s (%s:%d)\n", e.error, e.msg, e.file, e.line);
  async_outcome(NULL);
}

static void wait_async_outcomes(int count) {
  pthread_mutex_lock(&async_lock);
  while (async_outcomes < count) pthread_cond_wait(&async_done, &async_lock);
  pthread_mutex_unlock(&async_lock);
}

static int selector_calls;

/* As the official samples: the queue from an order id passed as arg. */
static int select_by_order_id(int size, CMessage *msg, void *arg) {
  (void)msg;
  selector_calls++;
  return *(int *)arg % size;
}

static void async_sends(void) {
  CProducer *producer = started_producer("Async");
  async_outcomes = async_failures = async_on_main_thread = 0;
  for (int i = 0; i < 4 * scale; i++) {
    sent_message *m = sent_text("CompatAsync", "async message");
    CMessage *msg = to_cmessage(m);
    async_current = m;
    int order_id = i;
    if (i % 2 == 0)
      CHECK_STATUS(SendMessageAsync(producer, msg, on_async_success, on_async_exception), OK);
    else
      CHECK_STATUS(SendMessageOrderlyAsync(producer, msg, select_by_order_id, &order_id,
                                           on_async_success, on_async_exception),
                   OK);
    wait_async_outcomes(i + 1);
    DestroyMessage(msg);
    sent_free(m);
  }
  CHECK(async_failures == 0 && async_on_main_thread == 0);
  stop_producer(producer);
}

/* SendAsync hands its user data and the message back. */
static int send_async_outcomes;
static int send_async_right_message;

static void on_send_async_success(CSendResult result, CMessage *msg, void *userData) {
  sent_message *m = userData;
  pthread_mutex_lock(&async_lock);
  if (result.sendStatus == E_SEND_OK) record_stored(m, result.msgId);
  if (strcmp(GetOriginMessageProperty(msg, "c_id"), m->id) == 0) send_async_right_message++;
  send_async_outcomes++;
  pthread_cond_broadcast(&async_done);
  pthread_mutex_unlock(&async_lock);
}

static void on_send_async_exception(CMQException e, CMessage *msg, void *userData) {
  (void)msg;
  (void)userData;
  fprintf(stderr, "  SendAsync failed: %d %s\n", e.error, e.msg);
  pthread_mutex_lock(&async_lock);
  send_async_outcomes++;
  pthread_cond_broadcast(&async_done);
  pthread_mutex_unlock(&async_lock);
}

#define SEND_ASYNC_COUNT 5

static void send_async_with_user_data(void) {
  CProducer *producer = started_producer("SendAsync");
  sent_message *sent[SEND_ASYNC_COUNT];
  CMessage *msgs[SEND_ASYNC_COUNT];
  send_async_outcomes = send_async_right_message = 0;
  for (int i = 0; i < SEND_ASYNC_COUNT; i++) {
    sent[i] = sent_text("CompatSendAsync", "send async message");
    msgs[i] = to_cmessage(sent[i]);
    CHECK_STATUS(SendAsync(producer, msgs[i], on_send_async_success, on_send_async_exception,
                           sent[i]),
                 OK);
  }
  pthread_mutex_lock(&async_lock);
  while (send_async_outcomes < SEND_ASYNC_COUNT) pthread_cond_wait(&async_done, &async_lock);
  pthread_mutex_unlock(&async_lock);
  CHECK(send_async_right_message == SEND_ASYNC_COUNT);
  stop_producer(producer);
  for (int i = 0; i < SEND_ASYNC_COUNT; i++) {
    DestroyMessage(msgs[i]);
    sent_free(sent[i]);
  }
}

static void oneway_sends(void) {
  CProducer *producer = started_producer("Oneway");
  for (int i = 0; i < 4; i++) {
    sent_message *m = sent_text("CompatOneway", "oneway message");
    CMessage *msg = to_cmessage(m);
    int order_id = i;
    if (i % 2 == 0)
      CHECK_STATUS(SendMessageOneway(producer, msg), OK);
    else
      CHECK_STATUS(SendMessageOnewayOrderly(producer, msg, select_by_order_id, &order_id), OK);
    record_stored(m, NULL);
    DestroyMessage(msg);
    sent_free(m);
  }
  stop_producer(producer);
}

static void orderly_sends(void) {
  CProducer *producer = CreateOrderlyProducer("CompatGroup_Orderly");
  CHECK_STATUS(SetProducerGroupName(producer, "CompatGroup_Orderly_2"), OK);
  CHECK_STATUS(SetProducerNameServerAddress(producer, namesrv), OK);
  CHECK_STATUS(StartProducer(producer), OK);
  selector_calls = 0;
  for (int i = 0; i < 6; i++) {
    sent_message *m = sent_text("CompatOrderly", "orderly message");
    CMessage *msg = to_cmessage(m);
    CSendResult result;
    int order_id = i % 3;
    if (i % 2 == 0)
      CHECK_STATUS(SendMessageOrderly(producer, msg, select_by_order_id, &order_id, 1, &result),
                   OK);
    else
      CHECK_STATUS(SendMessageOrderlyByShardingKey(producer, msg, "order-42", &result), OK);
    CHECK(result.sendStatus == E_SEND_OK);
    record_stored(m, result.msgId);
    DestroyMessage(msg);
    sent_free(m);
  }
  CHECK(selector_calls == 3);
  stop_producer(producer);
}

#define BATCH_SIZE 4

static void batch_sends(void) {
  CProducer *producer = started_producer("Batch");
  CBatchMessage *batch = CreateBatchMessage();
  CHECK(batch != NULL);
  sent_message *sent[BATCH_SIZE];
  for (int i = 0; i < BATCH_SIZE; i++) {
    sent[i] = sent_text("CompatBatch", "batch message");
    CMessage *msg = to_cmessage(sent[i]);
    CHECK_STATUS(AddMessage(batch, msg), OK);
    DestroyMessage(msg); /* the batch holds a copy */
  }
  CSendResult result;
  CHECK_STATUS(SendBatchMessage(producer, batch, &result), OK);
  CHECK(result.sendStatus == E_SEND_OK && result.msgId[0] != '\0');
  for (int i = 0; i < BATCH_SIZE; i++) {
    record_stored(sent[i], NULL);
    sent_free(sent[i]);
  }
  CHECK_STATUS(DestroyBatchMessage(batch), OK);
  stop_producer(producer);
}

static int executor_calls;

static CTransactionStatus execute_local(CProducer *producer, CMessage *msg, void *data) {
  (void)producer;
  executor_calls += pthread_equal(pthread_self(), main_thread) &&
                    strcmp(GetOriginMessageProperty(msg, "c_id"), (const char *)data) == 0;
  return E_COMMIT_TRANSACTION;
}

static CTransactionStatus check_local(CProducer *producer, CMessageExt *msg, void *data) {
  (void)producer;
  (void)msg;
  (void)data;
  return E_COMMIT_TRANSACTION;
}

static void transaction_sends(void) {
  char group[128];
  snprintf(group, sizeof group, "CompatGroup_Tx_%s", run_name);
  CProducer *producer = CreateTransactionProducer(group, check_local, NULL);
  CHECK(producer != NULL);
  CHECK_STATUS(SetProducerNameServerAddress(producer, namesrv), OK);
  CHECK_STATUS(StartProducer(producer), OK);
  executor_calls = 0;
  for (int i = 0; i < 2; i++) {
    sent_message *m = sent_text("CompatTx", "transaction message");
    CMessage *msg = to_cmessage(m);
    CSendResult result;
    CHECK_STATUS(SendMessageTransaction(producer, msg, execute_local, m->id, &result), OK);
    CHECK(result.sendStatus == E_SEND_OK);
    record_stored_with(m, result.msgId, COMMITTED_TRANSACTION);
    DestroyMessage(msg);
    sent_free(m);
  }
  CHECK(executor_calls == 2);
  stop_producer(producer);
}

int main(void) {
  int status = cluster_setup("compat_producer");
  if (status != 0) return status;
  RUN(sync_sends);
  RUN(async_sends);
  RUN(send_async_with_user_data);
  RUN(oneway_sends);
  RUN(orderly_sends);
  RUN(batch_sends);
  RUN(transaction_sends);
  fclose(manifest);
  return compat_summary("compat_producer");
}
