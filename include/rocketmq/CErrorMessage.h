#ifndef RMQ_COMPAT_CERRORMESSAGE_H
#define RMQ_COMPAT_CERRORMESSAGE_H
#include "CCommon.h"
#ifdef __cplusplus
extern "C" {
#endif

/* The text of the calling thread's latest failure (never cleared by a success); valid on this
 * thread until its next failure. "" when none. */
ROCKETMQCLIENT_API const char* GetLatestErrorMessage(void);

#ifdef __cplusplus
}
#endif
#endif
