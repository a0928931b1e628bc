// The header must compile cleanly as C++11 (g++ -std=c++11 -Wall -Wextra -Werror -pedantic) and
// give C linkage to every function; this translation unit uses a few of them to prove it.
#include "rmqproducer.h"

#include <cstdio>

namespace {

extern "C" void on_delivery(void *userdata, rmq_result result, const rmq_send_result *send_result,
                            const rmq_error *error) {
  int *calls = static_cast<int *>(userdata);
  ++*calls;
  std::printf("%s %s %s\n", rmq_result_name(result), rmq_send_result_msg_id(send_result),
              rmq_error_message(error));
}

}  // namespace

int header_compiles_as_cpp11() {
  rmq_delivery_cb callback = on_delivery;
  rmq_config *config = rmq_config_new();
  char err[128];
  rmq_result rc = rmq_config_set(config, "group", "cpp", err, sizeof err);
  rmq_config_free(config);
  enum rmq_send_status status = RMQ_SEND_STATUS_SEND_OK;
  return static_cast<int>(rc) + static_cast<int>(status) + (callback != nullptr ? 0 : 1);
}
