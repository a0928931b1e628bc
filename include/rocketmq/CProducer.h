#ifndef RMQ_COMPAT_CPRODUCER_H
#define RMQ_COMPAT_CPRODUCER_H
#include "CBatchMessage.h"
#include "CCommon.h"
#include "CMQException.h"
#include "CMessage.h"
#include "CMessageExt.h"
#include "CSendResult.h"
#include "CTransactionStatus.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct CProducer CProducer;

/* Runs on the calling thread (SendMessageOrderly*, SendMessageOnewayOrderly); must return an
 * index from 0 to size - 1 (anything else fails the send). */
typedef int (*QueueSelectorCallback)(int size, CMessage* msg, void* arg);
/* Async callbacks run on librmqproducer's delivery thread, exactly once per accepted send; never
 * when the send function returned an error. */
typedef void (*CSendSuccessCallback)(CSendResult result);
typedef void (*CSendExceptionCallback)(CMQException e);
typedef void (*COnSendSuccessCallback)(CSendResult result, CMessage* msg, void* userData);
typedef void (*COnSendExceptionCallback)(CMQException e, CMessage* msg, void* userData);
/* The check callback runs on a library thread of its own; the executor on the calling thread. */
typedef CTransactionStatus (*CLocalTransactionCheckerCallback)(CProducer* producer,
                                                               CMessageExt* msg, void* data);
typedef CTransactionStatus (*CLocalTransactionExecutorCallback)(CProducer* producer, CMessage* msg,
                                                                void* data);

ROCKETMQCLIENT_API CProducer* CreateProducer(const char* groupId);
ROCKETMQCLIENT_API CProducer* CreateOrderlyProducer(const char* groupId);
ROCKETMQCLIENT_API CProducer* CreateTransactionProducer(const char* groupId,
                                                        CLocalTransactionCheckerCallback callback,
                                                        void* userData);
ROCKETMQCLIENT_API int DestroyProducer(CProducer* producer);
ROCKETMQCLIENT_API int StartProducer(CProducer* producer);
ROCKETMQCLIENT_API int ShutdownProducer(CProducer* producer);
ROCKETMQCLIENT_API const char* ShowProducerVersion(CProducer* producer);

/* Setters take effect at StartProducer. */
ROCKETMQCLIENT_API int SetProducerNameServerAddress(CProducer* producer, const char* namesrv);
ROCKETMQCLIENT_API int SetProducerNameServerDomain(CProducer* producer, const char* domain);
ROCKETMQCLIENT_API int SetProducerGroupName(CProducer* producer, const char* groupName);
ROCKETMQCLIENT_API int SetProducerInstanceName(CProducer* producer, const char* instanceName);
ROCKETMQCLIENT_API int SetProducerSessionCredentials(CProducer* producer, const char* accessKey,
                                                     const char* secretKey, const char* onsChannel);
ROCKETMQCLIENT_API int SetProducerLogPath(CProducer* producer, const char* logPath);
ROCKETMQCLIENT_API int SetProducerLogFileNumAndSize(CProducer* producer, int fileNum,
                                                    long fileSize);
ROCKETMQCLIENT_API int SetProducerLogLevel(CProducer* producer, CLogLevel level);
ROCKETMQCLIENT_API int SetProducerSendMsgTimeout(CProducer* producer, int timeout);
ROCKETMQCLIENT_API int SetProducerCompressLevel(CProducer* producer, int level);
ROCKETMQCLIENT_API int SetProducerMaxMessageSize(CProducer* producer, int size);
ROCKETMQCLIENT_API int SetProducerMessageTrace(CProducer* producer, CTraceModel openTrace);
ROCKETMQCLIENT_API int SetProducerSsl(CProducer* producer, int enableSsl);
ROCKETMQCLIENT_API int SetProducerSslPropertyFile(CProducer* producer, const char* sslPropertyFile);

ROCKETMQCLIENT_API int SendMessageSync(CProducer* producer, CMessage* msg, CSendResult* result);
ROCKETMQCLIENT_API int SendBatchMessage(CProducer* producer, CBatchMessage* msg,
                                        CSendResult* result);
ROCKETMQCLIENT_API int SendMessageAsync(CProducer* producer, CMessage* msg,
                                        CSendSuccessCallback cSendSuccessCallback,
                                        CSendExceptionCallback cSendExceptionCallback);
/* msg is handed back to the callbacks: keep it alive until one of them ran. */
ROCKETMQCLIENT_API int SendAsync(CProducer* producer, CMessage* msg,
                                 COnSendSuccessCallback cSendSuccessCallback,
                                 COnSendExceptionCallback cSendExceptionCallback, void* userData);
ROCKETMQCLIENT_API int SendMessageOneway(CProducer* producer, CMessage* msg);
ROCKETMQCLIENT_API int SendMessageOnewayOrderly(CProducer* producer, CMessage* msg,
                                                QueueSelectorCallback selector, void* arg);
ROCKETMQCLIENT_API int SendMessageOrderly(CProducer* producer, CMessage* msg,
                                          QueueSelectorCallback callback, void* arg,
                                          int autoRetryTimes, CSendResult* result);
ROCKETMQCLIENT_API int SendMessageOrderlyAsync(CProducer* producer, CMessage* msg,
                                               QueueSelectorCallback callback, void* arg,
                                               CSendSuccessCallback cSendSuccessCallback,
                                               CSendExceptionCallback cSendExceptionCallback);
ROCKETMQCLIENT_API int SendMessageOrderlyByShardingKey(CProducer* producer, CMessage* msg,
                                                       const char* shardingKey,
                                                       CSendResult* result);
ROCKETMQCLIENT_API int SendMessageTransaction(CProducer* producer, CMessage* msg,
                                              CLocalTransactionExecutorCallback callback,
                                              void* userData, CSendResult* result);

#ifdef __cplusplus
}
#endif
#endif
