#ifndef RMQ_COMPAT_CTRANSACTIONSTATUS_H
#define RMQ_COMPAT_CTRANSACTIONSTATUS_H
#ifdef __cplusplus
extern "C" {
#endif

typedef enum E_CTransactionStatus {
  E_COMMIT_TRANSACTION = 0,
  E_ROLLBACK_TRANSACTION = 1,
  E_UNKNOWN_TRANSACTION = 2
} CTransactionStatus;

#ifdef __cplusplus
}
#endif
#endif
