/*
 * librocketmq.so: the producer half of rocketmq-client-cpp's C API (the headers in
 * include/rocketmq) over librmqproducer's C API, so that programs written for the official
 * library compile unchanged and link with -lrocketmq from our install. Async callbacks run on
 * librmqproducer's delivery thread (callback_mode thread), queue selectors on the calling thread.
 *
 * A CProducer gathers its settings in an rmq_config and makes the rmq_producer at StartProducer
 * (the official setters also apply at start). Return codes are the official CStatus values:
 * NULL_POINTER for NULL arguments, PRODUCER_START_FAILED for start and setter failures, and each
 * send form's own code; the text goes to GetLatestErrorMessage (per thread, as the official one).
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "CBatchMessage.h"
#include "CErrorMessage.h"
#include "CMessage.h"
#include "CMessageExt.h"
#include "CProducer.h"
#include "rmqproducer.h"

#define ERROR_TEXT_LENGTH 1024

struct CMessage {
  rmq_message *message;
  char *body; /* a NUL-terminated copy for GetOriginMessageBody */
  int body_len;
  int delay_level;
};

struct CBatchMessage {
  rmq_batch *batch;
};

struct CMessageExt {
  const rmq_transaction_check *check;
  char *body;
  int body_len;
};

struct CProducer {
  rmq_config *config;
  rmq_producer *producer; /* made by StartProducer */
  int transactional;
  CLocalTransactionCheckerCallback checker;
  void *checker_data;
};

/* ------------------------------------------------------------------------------------------ */
/* GetLatestErrorMessage: one buffer per thread                                                */

static pthread_key_t error_key;
static pthread_once_t error_key_once = PTHREAD_ONCE_INIT;

static void make_error_key(void) { pthread_key_create(&error_key, free); }

static char *error_buffer(void) {
  pthread_once(&error_key_once, make_error_key);
  char *buffer = pthread_getspecific(error_key);
  if (buffer == NULL) {
    buffer = calloc(1, ERROR_TEXT_LENGTH);
    if (buffer != NULL) pthread_setspecific(error_key, buffer);
  }
  return buffer;
}

static int fail_with(int status, const char *text) {
  char *buffer = error_buffer();
  if (buffer != NULL) snprintf(buffer, ERROR_TEXT_LENGTH, "%s", text);
  return status;
}

/* A failure of librmqproducer: its last error's text, prefixed by its code's name. */
static int fail_from_library(int status, rmq_result result) {
  char text[ERROR_TEXT_LENGTH - 64];
  rmq_last_error_message(text, sizeof text);
  char *buffer = error_buffer();
  if (buffer != NULL)
    snprintf(buffer, ERROR_TEXT_LENGTH, "%s: %s", rmq_result_name((int)result), text);
  return status;
}

const char *GetLatestErrorMessage(void) {
  const char *buffer = error_buffer();
  return buffer != NULL ? buffer : "";
}

/* ------------------------------------------------------------------------------------------ */
/* Messages                                                                                    */

CMessage *CreateMessage(const char *topic) {
  CMessage *msg = calloc(1, sizeof *msg);
  if (msg == NULL) return NULL;
  msg->message = rmq_message_new();
  if (msg->message == NULL ||
      (topic != NULL && rmq_message_set_topic(msg->message, topic) != RMQ_RESULT_OK)) {
    rmq_message_free(msg->message);
    free(msg);
    return NULL;
  }
  return msg;
}

int DestroyMessage(CMessage *msg) {
  if (msg == NULL) return NULL_POINTER;
  rmq_message_free(msg->message);
  free(msg->body);
  free(msg);
  return OK;
}

/* Message setters fail only on what librmqproducer refuses (bad UTF-8, a bad delay level): as the
 * official setters report failure, with PRODUCER_START_FAILED. */
static int setter_status(rmq_result result) {
  return result == RMQ_RESULT_OK ? OK : fail_from_library(PRODUCER_START_FAILED, result);
}

int SetMessageTopic(CMessage *msg, const char *topic) {
  if (msg == NULL || topic == NULL) return NULL_POINTER;
  return setter_status(rmq_message_set_topic(msg->message, topic));
}

int SetMessageTags(CMessage *msg, const char *tags) {
  if (msg == NULL || tags == NULL) return NULL_POINTER;
  return setter_status(rmq_message_set_tags(msg->message, tags));
}

int SetMessageKeys(CMessage *msg, const char *keys) {
  if (msg == NULL || keys == NULL) return NULL_POINTER;
  return setter_status(rmq_message_set_keys(msg->message, keys));
}

int SetByteMessageBody(CMessage *msg, const char *body, int len) {
  if (msg == NULL || body == NULL) return NULL_POINTER;
  if (len < 0) return fail_with(PRODUCER_START_FAILED, "SetByteMessageBody: negative length");
  char *copy = malloc((size_t)len + 1);
  if (copy == NULL) return MALLOC_FAILED;
  memcpy(copy, body, (size_t)len);
  copy[len] = '\0';
  rmq_result result = rmq_message_set_body(msg->message, (const uint8_t *)body, (size_t)len);
  if (result != RMQ_RESULT_OK) {
    free(copy);
    return setter_status(result);
  }
  free(msg->body);
  msg->body = copy;
  msg->body_len = len;
  return OK;
}

int SetMessageBody(CMessage *msg, const char *body) {
  if (msg == NULL || body == NULL) return NULL_POINTER;
  return SetByteMessageBody(msg, body, (int)strlen(body));
}

int SetMessageProperty(CMessage *msg, const char *key, const char *value) {
  if (msg == NULL || key == NULL || value == NULL) return NULL_POINTER;
  return setter_status(rmq_message_set_property(msg->message, key, value));
}

int SetDelayTimeLevel(CMessage *msg, int level) {
  if (msg == NULL) return NULL_POINTER;
  int status = setter_status(rmq_message_set_delay_level(msg->message, level));
  if (status == OK) msg->delay_level = level;
  return status;
}

const char *GetOriginMessageTopic(CMessage *msg) {
  return msg != NULL ? rmq_message_topic(msg->message) : NULL;
}

const char *GetOriginMessageTags(CMessage *msg) {
  return msg != NULL ? rmq_message_tags(msg->message) : NULL;
}

const char *GetOriginMessageKeys(CMessage *msg) {
  return msg != NULL ? rmq_message_keys(msg->message) : NULL;
}

const char *GetOriginMessageBody(CMessage *msg) {
  if (msg == NULL) return NULL;
  return msg->body != NULL ? msg->body : "";
}

int GetOriginMessageBodyLength(CMessage *msg) { return msg != NULL ? msg->body_len : 0; }

const char *GetOriginMessageProperty(CMessage *msg, const char *key) {
  if (msg == NULL || key == NULL) return NULL;
  return rmq_message_property(msg->message, key);
}

int GetOriginDelayTimeLevel(CMessage *msg) { return msg != NULL ? msg->delay_level : -1; }

/* ------------------------------------------------------------------------------------------ */
/* Batches                                                                                     */

CBatchMessage *CreateBatchMessage(void) {
  CBatchMessage *batch = calloc(1, sizeof *batch);
  if (batch == NULL) return NULL;
  batch->batch = rmq_batch_new();
  if (batch->batch == NULL) {
    free(batch);
    return NULL;
  }
  return batch;
}

int AddMessage(CBatchMessage *batchMsg, CMessage *msg) {
  if (batchMsg == NULL || msg == NULL) return NULL_POINTER;
  return setter_status(rmq_batch_add(batchMsg->batch, msg->message));
}

int DestroyBatchMessage(CBatchMessage *batchMsg) {
  if (batchMsg == NULL) return NULL_POINTER;
  rmq_batch_free(batchMsg->batch);
  free(batchMsg);
  return OK;
}

/* ------------------------------------------------------------------------------------------ */
/* The half message of a transaction check                                                     */

static const rmq_message *ext_message(CMessageExt *ext) {
  return ext != NULL ? rmq_transaction_check_message(ext->check) : NULL;
}

const char *GetMessageTopic(CMessageExt *msgExt) { return rmq_message_topic(ext_message(msgExt)); }
const char *GetMessageTags(CMessageExt *msgExt) { return rmq_message_tags(ext_message(msgExt)); }
const char *GetMessageKeys(CMessageExt *msgExt) { return rmq_message_keys(ext_message(msgExt)); }
const char *GetMessageBody(CMessageExt *msgExt) { return msgExt != NULL ? msgExt->body : NULL; }
int GetMessageBodyLength(CMessageExt *msgExt) { return msgExt != NULL ? msgExt->body_len : 0; }

const char *GetMessageProperty(CMessageExt *msgExt, const char *key) {
  if (key == NULL) return NULL;
  return rmq_message_property(ext_message(msgExt), key);
}

const char *GetMessageId(CMessageExt *msgExt) {
  return msgExt != NULL ? rmq_transaction_check_msg_id(msgExt->check) : NULL;
}

long long GetMessageBornTimestamp(CMessageExt *msgExt) {
  return msgExt != NULL ? (long long)rmq_transaction_check_born_timestamp(msgExt->check) : 0;
}

int GetMessageReconsumeTimes(CMessageExt *msgExt) {
  return msgExt != NULL ? (int)rmq_transaction_check_times(msgExt->check) : 0;
}

/* Not carried by a check request. */
int GetMessageDelayTimeLevel(CMessageExt *msgExt) { (void)msgExt; return 0; }
int GetMessageQueueId(CMessageExt *msgExt) { (void)msgExt; return 0; }
int GetMessageStoreSize(CMessageExt *msgExt) { (void)msgExt; return 0; }
long long GetMessageStoreTimestamp(CMessageExt *msgExt) { (void)msgExt; return 0; }
long long GetMessageQueueOffset(CMessageExt *msgExt) { (void)msgExt; return 0; }
long long GetMessageCommitLogOffset(CMessageExt *msgExt) { (void)msgExt; return 0; }
long long GetMessagePreparedTransactionOffset(CMessageExt *msgExt) { (void)msgExt; return 0; }
const char *GetMessageStoreHost(CMessageExt *msgExt) { return msgExt != NULL ? "" : NULL; }
const char *GetMessageBornHost(CMessageExt *msgExt) { return msgExt != NULL ? "" : NULL; }

/* ------------------------------------------------------------------------------------------ */
/* Producers: lifecycle and settings                                                           */

static CProducer *new_producer(const char *groupId) {
  if (groupId == NULL) return NULL;
  CProducer *producer = calloc(1, sizeof *producer);
  if (producer == NULL) return NULL;
  producer->config = rmq_config_new();
  if (producer->config == NULL ||
      rmq_config_set(producer->config, "group", groupId, NULL, 0) != RMQ_RESULT_OK) {
    fail_from_library(PRODUCER_START_FAILED, rmq_last_error_code());
    rmq_config_free(producer->config);
    free(producer);
    return NULL;
  }
  return producer;
}

CProducer *CreateProducer(const char *groupId) { return new_producer(groupId); }

/* The official orderly producer differs only by a type tag: every send form works on both. */
CProducer *CreateOrderlyProducer(const char *groupId) { return new_producer(groupId); }

CProducer *CreateTransactionProducer(const char *groupId, CLocalTransactionCheckerCallback callback,
                                     void *userData) {
  if (callback == NULL) return NULL;
  CProducer *producer = new_producer(groupId);
  if (producer == NULL) return NULL;
  producer->transactional = 1;
  producer->checker = callback;
  producer->checker_data = userData;
  return producer;
}

static int32_t check_trampoline(void *userdata, const rmq_transaction_check *check) {
  CProducer *producer = userdata;
  CMessageExt ext = {check, NULL, 0};
  size_t len = 0;
  const uint8_t *body = rmq_message_body(rmq_transaction_check_message(check), &len);
  ext.body = calloc(1, len + 1);
  if (ext.body != NULL && body != NULL) {
    memcpy(ext.body, body, len);
    ext.body_len = (int)len;
  }
  CTransactionStatus status = producer->checker(producer, &ext, producer->checker_data);
  free(ext.body);
  return (int32_t)status;
}

int StartProducer(CProducer *producer) {
  if (producer == NULL) return NULL_POINTER;
  if (producer->producer != NULL)
    return fail_with(PRODUCER_START_FAILED, "StartProducer: the producer was started already");
  char err[512];
  rmq_producer *made = NULL;
  rmq_result result =
      producer->transactional
          ? rmq_producer_new_transactional(producer->config, check_trampoline, producer, &made,
                                           err, sizeof err)
          : rmq_producer_new(producer->config, &made, err, sizeof err);
  if (result != RMQ_RESULT_OK) return fail_from_library(PRODUCER_START_FAILED, result);
  result = rmq_producer_start(made);
  if (result != RMQ_RESULT_OK) {
    fail_from_library(PRODUCER_START_FAILED, result);
    rmq_producer_free(made);
    return PRODUCER_START_FAILED;
  }
  producer->producer = made;
  return OK;
}

/* Waits for the async sends in flight (their callbacks run first), as rmq_producer_shutdown. */
int ShutdownProducer(CProducer *producer) {
  if (producer == NULL) return NULL_POINTER;
  if (producer->producer == NULL) return OK;
  rmq_result result = rmq_producer_shutdown(producer->producer);
  return result == RMQ_RESULT_OK ? OK : fail_from_library(PRODUCER_START_FAILED, result);
}

int DestroyProducer(CProducer *producer) {
  if (producer == NULL) return NULL_POINTER;
  rmq_producer_free(producer->producer);
  rmq_config_free(producer->config);
  free(producer);
  return OK;
}

const char *ShowProducerVersion(CProducer *producer) {
  return producer != NULL ? rmq_version() : NULL;
}

static int set_option(CProducer *producer, const char *key, const char *value) {
  if (producer == NULL || value == NULL) return NULL_POINTER;
  rmq_result result = rmq_config_set(producer->config, key, value, NULL, 0);
  return result == RMQ_RESULT_OK ? OK : fail_from_library(PRODUCER_START_FAILED, result);
}

static int set_number(CProducer *producer, const char *key, long long value) {
  char text[32];
  snprintf(text, sizeof text, "%lld", value);
  return set_option(producer, key, text);
}

int SetProducerNameServerAddress(CProducer *producer, const char *namesrv) {
  return set_option(producer, "namesrv_addr", namesrv);
}

int SetProducerNameServerDomain(CProducer *producer, const char *domain) {
  if (producer == NULL || domain == NULL) return NULL_POINTER;
  return fail_with(Not_Support, "SetProducerNameServerDomain: name server lookup by domain is not "
                                "supported; use SetProducerNameServerAddress");
}

int SetProducerGroupName(CProducer *producer, const char *groupName) {
  return set_option(producer, "group", groupName);
}

int SetProducerInstanceName(CProducer *producer, const char *instanceName) {
  return set_option(producer, "instance_name", instanceName);
}

/* The ONS channel has no meaning for an open-source broker: accepted and ignored. */
int SetProducerSessionCredentials(CProducer *producer, const char *accessKey, const char *secretKey,
                                  const char *onsChannel) {
  if (producer == NULL || accessKey == NULL || secretKey == NULL || onsChannel == NULL)
    return NULL_POINTER;
  int status = set_option(producer, "access_key", accessKey);
  return status == OK ? set_option(producer, "secret_key", secretKey) : status;
}

/* Logs. The official client always writes files under $HOME/logs/rocketmq-client (or the
 * directory SetProducerLogPath names, process-wide); ours is silent until SetProducerLogLevel asks,
 * then appends librmqproducer's records of that level and more severe to rocketmq_client.log in
 * that directory, from librmqproducer's log thread (no rotation: file number and size are
 * accepted and ignored). */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_dir[1024];
static FILE *log_file;

static void write_log(void *userdata, int32_t level, const char *target, const char *message) {
  static const char *const names[] = {"OFF", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"};
  (void)userdata;
  char stamp[32] = "";
  time_t now = time(NULL);
  struct tm local;
  if (localtime_r(&now, &local) != NULL)
    strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S", &local);
  pthread_mutex_lock(&log_lock);
  if (log_file != NULL) {
    fprintf(log_file, "[%s] %s %s: %s\n", stamp, names[level >= 0 && level <= 5 ? level : 0],
            target, message);
    fflush(log_file);
  }
  pthread_mutex_unlock(&log_lock);
}

/* Creates `dir` and its parents, as `mkdir -p`. */
static int make_dirs(const char *dir) {
  char path[sizeof log_dir];
  snprintf(path, sizeof path, "%s", dir);
  for (char *slash = strchr(path + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
    *slash = '\0';
    if (mkdir(path, 0755) != 0 && errno != EEXIST) return -1;
    *slash = '/';
  }
  return mkdir(path, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* Opens rocketmq_client.log in the log directory, once; NULL when it cannot. */
static FILE *open_log_file(void) {
  if (log_file == NULL) {
    char dir[sizeof log_dir], path[sizeof log_dir + 32];
    const char *home = getenv("HOME");
    if (log_dir[0] != '\0')
      snprintf(dir, sizeof dir, "%s", log_dir);
    else
      snprintf(dir, sizeof dir, "%s/logs/rocketmq-client", home != NULL ? home : ".");
    snprintf(path, sizeof path, "%s/rocketmq_client.log", dir);
    if (make_dirs(dir) == 0) log_file = fopen(path, "a");
  }
  return log_file;
}

int SetProducerLogPath(CProducer *producer, const char *logPath) {
  if (producer == NULL || logPath == NULL) return NULL_POINTER;
  pthread_mutex_lock(&log_lock);
  snprintf(log_dir, sizeof log_dir, "%s", logPath);
  /* Logging already: it moves to the new directory. */
  int moved = 1;
  if (log_file != NULL) {
    fclose(log_file);
    log_file = NULL;
    moved = open_log_file() != NULL;
  }
  pthread_mutex_unlock(&log_lock);
  return moved ? OK
               : fail_with(PRODUCER_START_FAILED, "SetProducerLogPath: cannot open the log file");
}

int SetProducerLogFileNumAndSize(CProducer *producer, int fileNum, long fileSize) {
  (void)fileNum;
  (void)fileSize;
  return producer == NULL ? NULL_POINTER : OK;
}

int SetProducerLogLevel(CProducer *producer, CLogLevel level) {
  if (producer == NULL) return NULL_POINTER;
  int32_t forwarded;
  switch (level) {
    case E_LOG_LEVEL_FATAL:
    case E_LOG_LEVEL_ERROR: forwarded = RMQ_LOG_ERROR; break;
    case E_LOG_LEVEL_WARN: forwarded = RMQ_LOG_WARN; break;
    case E_LOG_LEVEL_INFO: forwarded = RMQ_LOG_INFO; break;
    case E_LOG_LEVEL_DEBUG: forwarded = RMQ_LOG_DEBUG; break;
    case E_LOG_LEVEL_TRACE: forwarded = RMQ_LOG_TRACE; break;
    default: return fail_with(PRODUCER_START_FAILED, "SetProducerLogLevel: not a CLogLevel");
  }
  pthread_mutex_lock(&log_lock);
  FILE *file = open_log_file();
  pthread_mutex_unlock(&log_lock);
  if (file == NULL)
    return fail_with(PRODUCER_START_FAILED, "SetProducerLogLevel: cannot open the log file");
  rmq_result result = rmq_set_log_callback(forwarded, write_log, NULL);
  return result == RMQ_RESULT_OK ? OK : fail_from_library(PRODUCER_START_FAILED, result);
}

/* The official timeout bounds each attempt; librmqproducer's bounds the whole send, retries
 * included: never longer than the official's. */
int SetProducerSendMsgTimeout(CProducer *producer, int timeout) {
  return set_number(producer, "send_timeout_ms", timeout);
}

int SetProducerCompressLevel(CProducer *producer, int level) {
  return set_number(producer, "compress_level", level);
}

int SetProducerMaxMessageSize(CProducer *producer, int size) {
  return set_number(producer, "max_message_size", size);
}

/* Exported but not declared, as in the official library. */
ROCKETMQCLIENT_API int SetProducerCompressMsgBodyOverHowmuch(CProducer *producer, int howmuch);
int SetProducerCompressMsgBodyOverHowmuch(CProducer *producer, int howmuch) {
  return set_number(producer, "compress_threshold", howmuch);
}

int SetProducerMessageTrace(CProducer *producer, CTraceModel openTrace) {
  return set_option(producer, "enable_msg_trace", openTrace == OPEN ? "true" : "false");
}

int SetProducerSsl(CProducer *producer, int enableSsl) {
  return set_option(producer, "tls", enableSsl ? "true" : "false");
}

int SetProducerSslPropertyFile(CProducer *producer, const char *sslPropertyFile) {
  if (producer == NULL || sslPropertyFile == NULL) return NULL_POINTER;
  return fail_with(Not_Support, "SetProducerSslPropertyFile: not supported; TLS uses the system's "
                                "CA certificates (librmqproducer's tls_* options set the rest)");
}

/* ------------------------------------------------------------------------------------------ */
/* Sending                                                                                     */

static void fill_result(CSendResult *out, const rmq_send_result *result) {
  memset(out, 0, sizeof *out);
  out->sendStatus = (CSendStatus)rmq_send_result_status(result);
  const char *msg_id = rmq_send_result_msg_id(result);
  if (msg_id != NULL) snprintf(out->msgId, sizeof out->msgId, "%s", msg_id);
  out->offset = (long long)rmq_send_result_queue_offset(result);
}

/* The producer to send with, or NULL after writing the failure (status) when not started. */
static rmq_producer *started(CProducer *producer, int status, const char *function) {
  if (producer->producer == NULL) {
    char text[128];
    snprintf(text, sizeof text, "%s: the producer is not started", function);
    fail_with(status, text);
  }
  return producer->producer;
}

/* A sync send's outcome (result, and sent when OK; call after the send, never with it as an
 * argument): fills *out and frees sent, or reports the failure as status. */
static int sync_outcome(int status, rmq_result result, rmq_send_result *sent, CSendResult *out) {
  if (result != RMQ_RESULT_OK) return fail_from_library(status, result);
  if (out != NULL) fill_result(out, sent);
  rmq_send_result_free(sent);
  return OK;
}

int SendMessageSync(CProducer *producer, CMessage *msg, CSendResult *result) {
  if (producer == NULL || msg == NULL || result == NULL) return NULL_POINTER;
  rmq_producer *p = started(producer, PRODUCER_SEND_SYNC_FAILED, "SendMessageSync");
  if (p == NULL) return PRODUCER_SEND_SYNC_FAILED;
  rmq_send_result *sent = NULL;
  rmq_result sent_result = rmq_producer_send_sync(p, msg->message, &sent);
  return sync_outcome(PRODUCER_SEND_SYNC_FAILED, sent_result, sent, result);
}

int SendBatchMessage(CProducer *producer, CBatchMessage *msg, CSendResult *result) {
  if (producer == NULL || msg == NULL || result == NULL) return NULL_POINTER;
  rmq_producer *p = started(producer, PRODUCER_SEND_SYNC_FAILED, "SendBatchMessage");
  if (p == NULL) return PRODUCER_SEND_SYNC_FAILED;
  rmq_send_result *sent = NULL;
  rmq_result sent_result = rmq_producer_send_batch_sync(p, msg->batch, &sent);
  return sync_outcome(PRODUCER_SEND_SYNC_FAILED, sent_result, sent, result);
}

int SendMessageOneway(CProducer *producer, CMessage *msg) {
  if (producer == NULL || msg == NULL) return NULL_POINTER;
  rmq_producer *p = started(producer, PRODUCER_SEND_ONEWAY_FAILED, "SendMessageOneway");
  if (p == NULL) return PRODUCER_SEND_ONEWAY_FAILED;
  rmq_result result = rmq_producer_send_oneway(p, msg->message);
  return result == RMQ_RESULT_OK ? OK : fail_from_library(PRODUCER_SEND_ONEWAY_FAILED, result);
}

int SendMessageOrderlyByShardingKey(CProducer *producer, CMessage *msg, const char *shardingKey,
                                    CSendResult *result) {
  if (producer == NULL || msg == NULL || shardingKey == NULL || result == NULL)
    return NULL_POINTER;
  rmq_producer *p =
      started(producer, PRODUCER_SEND_ORDERLY_FAILED, "SendMessageOrderlyByShardingKey");
  if (p == NULL) return PRODUCER_SEND_ORDERLY_FAILED;
  rmq_send_result *sent = NULL;
  rmq_result sent_result =
      rmq_producer_send_with_sharding_key(p, msg->message, shardingKey, &sent);
  return sync_outcome(PRODUCER_SEND_ORDERLY_FAILED, sent_result, sent, result);
}

/* The queue the application's selector picks, asked on the calling thread as the official
 * library does: written to *out (the caller frees it), or the failure reported as status. */
static int select_queue(rmq_producer *p, CMessage *msg, QueueSelectorCallback selector, void *arg,
                        int status, rmq_message_queue **out) {
  rmq_queue_list *queues = NULL;
  const char *topic = rmq_message_topic(msg->message);
  rmq_result result = rmq_producer_publish_queues(p, topic != NULL ? topic : "", &queues);
  if (result != RMQ_RESULT_OK) return fail_from_library(status, result);
  size_t count = rmq_queue_list_len(queues);
  int index = selector((int)count, msg, arg);
  if (index < 0 || (size_t)index >= count) {
    rmq_queue_list_free(queues);
    char text[160];
    snprintf(text, sizeof text, "the queue selector returned %d; the topic has %zu queues", index,
             count);
    return fail_with(status, text);
  }
  *out = rmq_message_queue_clone(rmq_queue_list_get(queues, (size_t)index));
  rmq_queue_list_free(queues);
  return *out != NULL ? OK : fail_with(MALLOC_FAILED, "out of memory");
}

/* autoRetryTimes more attempts after a failed one, each asking the selector again. */
int SendMessageOrderly(CProducer *producer, CMessage *msg, QueueSelectorCallback callback,
                       void *arg, int autoRetryTimes, CSendResult *result) {
  if (producer == NULL || msg == NULL || callback == NULL || arg == NULL || result == NULL)
    return NULL_POINTER;
  rmq_producer *p = started(producer, PRODUCER_SEND_ORDERLY_FAILED, "SendMessageOrderly");
  if (p == NULL) return PRODUCER_SEND_ORDERLY_FAILED;
  int status = PRODUCER_SEND_ORDERLY_FAILED;
  for (int attempt = 0; attempt <= (autoRetryTimes > 0 ? autoRetryTimes : 0); attempt++) {
    rmq_message_queue *queue = NULL;
    status = select_queue(p, msg, callback, arg, PRODUCER_SEND_ORDERLY_FAILED, &queue);
    if (status != OK) return status;
    rmq_send_result *sent = NULL;
    rmq_result sent_result = rmq_producer_send_to_queue(p, msg->message, queue, &sent);
    status = sync_outcome(PRODUCER_SEND_ORDERLY_FAILED, sent_result, sent, result);
    rmq_message_queue_free(queue);
    if (status == OK) break;
  }
  return status;
}

/* librmqproducer has no oneway send to a chosen queue: this one waits for the broker's answer
 * (and drops it), which orders the messages as the official one does and stores them as surely. */
int SendMessageOnewayOrderly(CProducer *producer, CMessage *msg, QueueSelectorCallback selector,
                             void *arg) {
  if (producer == NULL || msg == NULL || selector == NULL) return NULL_POINTER;
  rmq_producer *p = started(producer, PRODUCER_SEND_ONEWAY_FAILED, "SendMessageOnewayOrderly");
  if (p == NULL) return PRODUCER_SEND_ONEWAY_FAILED;
  rmq_message_queue *queue = NULL;
  int status = select_queue(p, msg, selector, arg, PRODUCER_SEND_ONEWAY_FAILED, &queue);
  if (status != OK) return status;
  rmq_send_result *sent = NULL;
  rmq_result sent_result = rmq_producer_send_to_queue(p, msg->message, queue, &sent);
  status = sync_outcome(PRODUCER_SEND_ONEWAY_FAILED, sent_result, sent, NULL);
  rmq_message_queue_free(queue);
  return status;
}

/* What an async send's delivery callback needs: one of the two official callback pairs. */
typedef struct {
  CSendSuccessCallback success;
  CSendExceptionCallback exception;
  COnSendSuccessCallback on_success;
  COnSendExceptionCallback on_exception;
  CMessage *msg;
  void *user_data;
} async_send;

static void delivered(void *userdata, rmq_result result, const rmq_send_result *send_result,
                      const rmq_error *error) {
  async_send *send = userdata;
  if (result == RMQ_RESULT_OK) {
    CSendResult out;
    fill_result(&out, send_result);
    if (send->success != NULL) send->success(out);
    if (send->on_success != NULL) send->on_success(out, send->msg, send->user_data);
  } else {
    CMQException e;
    memset(&e, 0, sizeof e);
    int32_t response_code = rmq_error_response_code(error);
    e.error = result == RMQ_RESULT_BROKER && response_code > 0 ? response_code : (int)result;
    e.line = __LINE__;
    snprintf(e.file, sizeof e.file, "%s", __FILE__);
    const char *message = rmq_error_message(error);
    snprintf(e.msg, sizeof e.msg, "%s", message != NULL ? message : "");
    snprintf(e.type, sizeof e.type, "%s", rmq_result_name((int)result));
    if (send->exception != NULL) send->exception(e);
    if (send->on_exception != NULL) send->on_exception(e, send->msg, send->user_data);
  }
  free(send);
}

/* Sends through send_async (rmq_producer_send_async or _to_queue_async with queue): on a refused
 * send, no callback runs (the official library may call back and return an error both). */
static int send_async(rmq_producer *p, CMessage *msg, const rmq_message_queue *queue,
                      async_send template, int status) {
  async_send *send = malloc(sizeof *send);
  if (send == NULL) return fail_with(MALLOC_FAILED, "out of memory");
  *send = template;
  rmq_result result =
      queue != NULL ? rmq_producer_send_to_queue_async(p, msg->message, queue, delivered, send)
                    : rmq_producer_send_async(p, msg->message, delivered, send);
  if (result != RMQ_RESULT_OK) {
    free(send);
    return fail_from_library(status, result);
  }
  return OK;
}

int SendMessageAsync(CProducer *producer, CMessage *msg, CSendSuccessCallback cSendSuccessCallback,
                     CSendExceptionCallback cSendExceptionCallback) {
  if (producer == NULL || msg == NULL || cSendSuccessCallback == NULL ||
      cSendExceptionCallback == NULL)
    return NULL_POINTER;
  rmq_producer *p = started(producer, PRODUCER_SEND_ASYNC_FAILED, "SendMessageAsync");
  if (p == NULL) return PRODUCER_SEND_ASYNC_FAILED;
  async_send template = {cSendSuccessCallback, cSendExceptionCallback, NULL, NULL, msg, NULL};
  return send_async(p, msg, NULL, template, PRODUCER_SEND_ASYNC_FAILED);
}

int SendAsync(CProducer *producer, CMessage *msg, COnSendSuccessCallback cSendSuccessCallback,
              COnSendExceptionCallback cSendExceptionCallback, void *userData) {
  if (producer == NULL || msg == NULL || cSendSuccessCallback == NULL ||
      cSendExceptionCallback == NULL)
    return NULL_POINTER;
  rmq_producer *p = started(producer, PRODUCER_SEND_ASYNC_FAILED, "SendAsync");
  if (p == NULL) return PRODUCER_SEND_ASYNC_FAILED;
  async_send template = {NULL, NULL, cSendSuccessCallback, cSendExceptionCallback, msg, userData};
  return send_async(p, msg, NULL, template, PRODUCER_SEND_ASYNC_FAILED);
}

int SendMessageOrderlyAsync(CProducer *producer, CMessage *msg, QueueSelectorCallback callback,
                            void *arg, CSendSuccessCallback cSendSuccessCallback,
                            CSendExceptionCallback cSendExceptionCallback) {
  if (producer == NULL || msg == NULL || callback == NULL || cSendSuccessCallback == NULL ||
      cSendExceptionCallback == NULL)
    return NULL_POINTER;
  rmq_producer *p = started(producer, PRODUCER_SEND_ORDERLYASYNC_FAILED, "SendMessageOrderlyAsync");
  if (p == NULL) return PRODUCER_SEND_ORDERLYASYNC_FAILED;
  rmq_message_queue *queue = NULL;
  int status = select_queue(p, msg, callback, arg, PRODUCER_SEND_ORDERLYASYNC_FAILED, &queue);
  if (status != OK) return status;
  async_send template = {cSendSuccessCallback, cSendExceptionCallback, NULL, NULL, msg, NULL};
  status = send_async(p, msg, queue, template, PRODUCER_SEND_ORDERLYASYNC_FAILED);
  rmq_message_queue_free(queue);
  return status;
}

typedef struct {
  CProducer *producer;
  CMessage *msg;
  CLocalTransactionExecutorCallback executor;
  void *user_data;
} local_transaction;

static int32_t execute_local(void *userdata, const rmq_message *message,
                             const rmq_send_result *half_result) {
  (void)message;
  (void)half_result;
  local_transaction *local = userdata;
  return (int32_t)local->executor(local->producer, local->msg, local->user_data);
}

int SendMessageTransaction(CProducer *producer, CMessage *msg,
                           CLocalTransactionExecutorCallback callback, void *userData,
                           CSendResult *result) {
  if (producer == NULL || msg == NULL || callback == NULL || result == NULL) return NULL_POINTER;
  rmq_producer *p = started(producer, PRODUCER_SEND_TRANSACTION_FAILED, "SendMessageTransaction");
  if (p == NULL) return PRODUCER_SEND_TRANSACTION_FAILED;
  local_transaction local = {producer, msg, callback, userData};
  rmq_send_result *sent = NULL;
  rmq_transaction_state state;
  rmq_result sent_result =
      rmq_producer_send_in_transaction(p, msg->message, execute_local, &local, &sent, &state);
  return sync_outcome(PRODUCER_SEND_TRANSACTION_FAILED, sent_result, sent, result);
}
