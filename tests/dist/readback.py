#!/usr/bin/env python3
"""Checks a quickstart's run against the store, through the independent Java reader
(`rmq-cluster read-topic`, at RMQ_PORT_BASE): every message the quickstart printed as SEND_OK
(each language prints its msgId and offsetMsgId) is stored in TopicTest with tag TagA, and
their bodies are exactly "Hello RocketMQ 0" to "Hello RocketMQ 999", once each.

Usage: readback.py QUICKSTART_OUTPUT. Prints one line; exits non-zero on any difference.
"""

import base64
import json
import os
import re
import subprocess
import sys
import time

TOPIC = "TopicTest"
HEX_ID = re.compile(r"\b[0-9A-F]{32}\b")


def stored_by_id():
    reader = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cluster", "rmq-cluster")
    out = subprocess.run([reader, "read-topic", TOPIC], check=True, capture_output=True,
                         text=True).stdout
    messages = (json.loads(line) for line in out.splitlines() if line.strip())
    return {m.get("msgId"): m for m in messages}


def main():
    with open(sys.argv[1], encoding="utf-8", errors="replace") as log:
        acknowledged = [HEX_ID.findall(line) for line in log if "SEND_OK" in line]
    # The consume queues are written just after the store: a few tries for the last sends.
    deadline = time.monotonic() + 30
    while True:
        stored = stored_by_id()
        found = [next((stored[i] for i in ids if i in stored), None) for ids in acknowledged]
        missing = sum(m is None for m in found)
        if not missing or time.monotonic() > deadline:
            break
        time.sleep(1)
    bodies = sorted(base64.b64decode(m.get("bodyBase64") or "").decode("utf-8", "replace")
                    for m in found if m is not None)
    expected = sorted(f"Hello RocketMQ {i}" for i in range(1000))
    wrong_tags = sum(m is not None and m.get("tags") != "TagA" for m in found)
    if missing or wrong_tags or bodies != expected:
        print(f"readback: FAIL {len(acknowledged)} acknowledged, {missing} not in {TOPIC}, "
              f"{wrong_tags} without tag TagA, bodies {'match' if bodies == expected else 'differ'}")
        return 1
    print(f"readback: the Java reader finds the {len(found)} acknowledged messages in {TOPIC}, "
          "bodies 'Hello RocketMQ 0..999', tag TagA")
    return 0


if __name__ == "__main__":
    sys.exit(main())
