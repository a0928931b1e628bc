// The compat headers compile as C++ too, as the official ones are used from C++.
#include "CBatchMessage.h"
#include "CCommon.h"
#include "CErrorMessage.h"
#include "CMQException.h"
#include "CMessage.h"
#include "CMessageExt.h"
#include "CMessageQueue.h"
#include "CProducer.h"
#include "CSendResult.h"
#include "CTransactionStatus.h"

int compat_header_cpp_send(CProducer* producer, CMessage* msg) {
  CSendResult result;
  return SendMessageSync(producer, msg, &result) == OK ? (int)result.sendStatus : (int)NULL_POINTER;
}
