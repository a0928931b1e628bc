#ifndef RMQ_COMPAT_CBATCHMESSAGE_H
#define RMQ_COMPAT_CBATCHMESSAGE_H
#include "CCommon.h"
#include "CMessage.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct CBatchMessage CBatchMessage;

ROCKETMQCLIENT_API CBatchMessage* CreateBatchMessage(void);
/* Adds a copy of msg: the caller still owns and destroys msg. */
ROCKETMQCLIENT_API int AddMessage(CBatchMessage* batchMsg, CMessage* msg);
ROCKETMQCLIENT_API int DestroyBatchMessage(CBatchMessage* batchMsg);

#ifdef __cplusplus
}
#endif
#endif
