#ifndef RMQ_COMPAT_CMESSAGEQUEUE_H
#define RMQ_COMPAT_CMESSAGEQUEUE_H
#include "CCommon.h"
#ifdef __cplusplus
extern "C" {
#endif

/* Declared for source compatibility; no producer function uses it. */
typedef struct _CMessageQueue_ {
  char topic[MAX_TOPIC_LENGTH];
  char brokerName[MAX_BROKER_NAME_ID_LENGTH];
  int queueId;
} CMessageQueue;

#ifdef __cplusplus
}
#endif
#endif
