#!/usr/bin/env python3
"""Compares what the C tests sent (their manifest, JSON lines) with what the independent Java reader
(`rmq-cluster read-topic`) finds in the store: per topic, the same number of messages, and for each
message (matched by its user property c_id) the same body bytes, tags, keys, user properties and,
for sync and async sends, the msgId the send result reported. Optional members of a manifest line
add checks: "queue": [brokerName, queueId] where it must be stored; "minStoreDelayMs": the least
time between birth and store (delayed and timer messages); "maxStoreDelayMs": the most (a timer
message on 4.x, which has no timers, is stored at once); "sysFlag" with "sysFlagMask": the
stored sysFlag's bits under the mask (compression type, transaction type); "portBase": the
cluster to read from, when not the one of RMQ_PORT_BASE (the secure cluster); "brokerProps": names
of properties the store shows beyond those sent (the broker's, for transactions; TIMER_DELIVER_MS,
which a 4.9 reader lists as a user property), left out of the comparison; "mayRepeat": the
message may be stored more than once (a transaction committed by two check-backs, which the
broker's at-least-once checks allow). A stored message the manifest does not list is a failure.

Usage: readback.py MANIFEST RMQ_CLUSTER. Prints one line per topic and finally
"readback: N passed, N failed" (one check per topic); exits non-zero on any failure.
"""

import base64
import collections
import json
import os
import subprocess
import sys


def stored_messages(rmq_cluster, topic, expected, port_base):
    env = dict(os.environ)
    if port_base is not None:
        env["RMQ_PORT_BASE"] = str(port_base)
    out = subprocess.run(
        [rmq_cluster, "read-topic", topic, "--expect", str(expected), "--timeout-ms", "60000"],
        check=True, capture_output=True, text=True, env=env,
    ).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def differences(sent, stored):
    """What differs between one sent message and the stored one, as readable strings."""
    found = []
    body = base64.b64decode(stored.get("bodyBase64") or "")
    if body != bytes.fromhex(sent["bodyHex"]):
        found.append(f"body differs ({len(body)} bytes stored, {len(sent['bodyHex']) // 2} sent)")
    for field in ("topic", "tags", "keys"):
        if stored.get(field) != sent[field]:
            found.append(f"{field}: stored {stored.get(field)!r}, sent {sent[field]!r}")
    user_properties = {name: value for name, value in (stored.get("userProperties") or {}).items()
                       if name not in sent.get("brokerProps", [])}
    if user_properties != sent["props"]:
        found.append(f"user properties: stored {stored.get('userProperties')!r}, sent {sent['props']!r}")
    if sent["msgId"] is not None and stored.get("msgId") != sent["msgId"]:
        found.append(f"msgId: stored {stored.get('msgId')!r}, send result said {sent['msgId']!r}")
    if "queue" in sent and [stored.get("brokerName"), stored.get("queueId")] != sent["queue"]:
        found.append(f"stored in {stored.get('brokerName')}/{stored.get('queueId')}, expected {sent['queue']}")
    if "minStoreDelayMs" in sent:
        waited = stored.get("storeTimestamp", 0) - stored.get("bornTimestamp", 0)
        if waited < sent["minStoreDelayMs"]:
            found.append(f"stored {waited} ms after birth, expected at least {sent['minStoreDelayMs']}")
    if "maxStoreDelayMs" in sent:
        waited = stored.get("storeTimestamp", 0) - stored.get("bornTimestamp", 0)
        if waited > sent["maxStoreDelayMs"]:
            found.append(f"stored {waited} ms after birth, expected at most {sent['maxStoreDelayMs']}")
    if "sysFlag" in sent and stored.get("sysFlag", 0) & sent["sysFlagMask"] != sent["sysFlag"]:
        found.append(f"sysFlag {stored.get('sysFlag', 0):#x}, expected {sent['sysFlag']:#x} "
                     f"under mask {sent['sysFlagMask']:#x}")
    return found


def check_topic(rmq_cluster, topic, sent):
    try:
        stored = stored_messages(rmq_cluster, topic, len(sent), sent[0].get("portBase"))
    except subprocess.CalledProcessError as e:
        return [f"read-topic failed ({e.returncode}): {e.stderr.strip()}"]
    problems = []
    copies = collections.defaultdict(list)
    for m in stored:
        copies[(m.get("userProperties") or {}).get("c_id")].append(m)
    sent_ids = {m["id"] for m in sent}
    unexpected = [c_id for c_id in copies if c_id not in sent_ids]
    if unexpected:
        problems.append(f"{len(unexpected)} stored message(s) that should not be there: {unexpected[:5]}")
    repeatable = {m["id"] for m in sent if m.get("mayRepeat")}
    for c_id, found in copies.items():
        if len(found) > 1 and c_id not in repeatable:
            problems.append(f"message {c_id} is stored {len(found)} times")
    by_id = {c_id: found[0] for c_id, found in copies.items()}
    for message in sent:
        match = by_id.get(message["id"])
        if match is None:
            problems.append(f"message {message['id']} is not in the store")
        else:
            problems.extend(f"message {message['id']}: {d}" for d in differences(message, match))
    return problems


def main(manifest_path, rmq_cluster):
    by_topic = collections.OrderedDict()
    with open(manifest_path, encoding="utf-8") as manifest:
        for line in manifest:
            if line.strip():
                sent = json.loads(line)
                by_topic.setdefault(sent["topic"], []).append(sent)
    passed = failed = 0
    for topic, sent in by_topic.items():
        problems = check_topic(rmq_cluster, topic, sent)
        if problems:
            failed += 1
            print(f"not ok  readback {topic}", file=sys.stderr)
            for problem in problems[:20]:
                print(f"  {problem}", file=sys.stderr)
        else:
            passed += 1
            print(f"ok      readback {topic}: {len(sent)} messages byte-exact", file=sys.stderr)
    if not by_topic:
        failed += 1
        print("not ok  readback: the manifest is empty", file=sys.stderr)
    print(f"readback: {passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))
