/*
 * Quick start: sends 1000 messages "Hello RocketMQ i" with tag TagA to topic TopicTest and prints
 * each SendResult, as the Java quick start does.
 *
 *   cc -std=c99 quickstart.c $(pkg-config --cflags --libs rmqproducer) -o quickstart
 *   NAMESRV_ADDR=127.0.0.1:9876 ./quickstart
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rmqproducer.h"

static void print_last_error(const char *what) {
  char message[1024];
  rmq_last_error_message(message, sizeof message);
  fprintf(stderr, "%s failed: %s: %s\n", what, rmq_result_name(rmq_last_error_code()), message);
}

int main(void) {
  const char *namesrv = getenv("NAMESRV_ADDR");
  if (namesrv == NULL || *namesrv == '\0') {
    fprintf(stderr, "set NAMESRV_ADDR to the name server, e.g. 127.0.0.1:9876\n");
    return 2;
  }

  char err[512];
  rmq_config *config = rmq_config_new();
  if (rmq_config_set(config, "group", "please_rename_unique_group_name", err, sizeof err) != RMQ_RESULT_OK ||
      rmq_config_set(config, "namesrv_addr", namesrv, err, sizeof err) != RMQ_RESULT_OK) {
    fprintf(stderr, "configuration: %s\n", err);
    rmq_config_free(config);
    return 1;
  }
  rmq_producer *producer = NULL;
  rmq_result rc = rmq_producer_new(config, &producer, err, sizeof err);
  rmq_config_free(config);
  if (rc != RMQ_RESULT_OK) {
    fprintf(stderr, "rmq_producer_new: %s\n", err);
    return 1;
  }
  if (rmq_producer_start(producer) != RMQ_RESULT_OK) {
    print_last_error("rmq_producer_start");
    rmq_producer_free(producer);
    return 1;
  }

  int failures = 0;
  rmq_message *message = rmq_message_new();
  rmq_message_set_topic(message, "TopicTest");
  rmq_message_set_tags(message, "TagA");
  for (int i = 0; i < 1000; i++) {
    char body[64];
    int len = snprintf(body, sizeof body, "Hello RocketMQ %d", i);
    rmq_message_set_body(message, (const uint8_t *)body, (size_t)len);
    rmq_send_result *result = NULL;
    if (rmq_producer_send_sync(producer, message, &result) != RMQ_RESULT_OK) {
      print_last_error("rmq_producer_send_sync");
      failures++;
      continue;
    }
    printf("SendResult [sendStatus=%s, msgId=%s, offsetMsgId=%s, messageQueue=MessageQueue "
           "[topic=%s, brokerName=%s, queueId=%d], queueOffset=%lld, regionId=%s]\n",
           rmq_send_status_name(rmq_send_result_status(result)), rmq_send_result_msg_id(result),
           rmq_send_result_offset_msg_id(result), rmq_send_result_topic(result),
           rmq_send_result_broker_name(result), rmq_send_result_queue_id(result),
           (long long)rmq_send_result_queue_offset(result), rmq_send_result_region_id(result));
    rmq_send_result_free(result);
  }
  rmq_message_free(message);

  if (rmq_producer_shutdown(producer) != RMQ_RESULT_OK) print_last_error("rmq_producer_shutdown");
  rmq_producer_free(producer);
  return failures == 0 ? 0 : 1;
}
