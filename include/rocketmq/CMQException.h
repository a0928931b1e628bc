#ifndef RMQ_COMPAT_CMQEXCEPTION_H
#define RMQ_COMPAT_CMQEXCEPTION_H
#include "CCommon.h"
#ifdef __cplusplus
extern "C" {
#endif

#define MAX_EXEPTION_MSG_LENGTH 512
#define MAX_EXEPTION_FILE_LENGTH 256
#define MAX_EXEPTION_TYPE_LENGTH 128

/* What an async send's exception callback gets. error: the broker's response code when the broker
 * refused the send, else librmqproducer's rmq_result code; type: that code's name (e.g.
 * "RMQ_RESULT_TIMEOUT"); msg: the failure's text; file and line: where the shim reported it.
 * Every string is NUL-terminated. */
typedef struct _CMQException_ {
  int error;
  int line;
  char file[MAX_EXEPTION_FILE_LENGTH];
  char msg[MAX_EXEPTION_MSG_LENGTH];
  char type[MAX_EXEPTION_TYPE_LENGTH];
} CMQException;

#ifdef __cplusplus
}
#endif
#endif
