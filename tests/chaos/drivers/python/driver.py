#!/usr/bin/env python3
"""Chaos workload driver for the Python binding (contract: tests/chaos/README.md, "The drivers").

    driver.py NAMESRV_ADDR TOPIC GROUP HISTORY_FILE RATE

Sends sync (two threads), callback-async (up to 200 in flight), oneway and batches of four,
paced at about RATE messages/s in total, until `stop` or EOF on stdin.
"""

import json
import os
import sys
import threading
import time

from rmqproducer import Message, Producer

LANG = "python"
MAX_ASYNC_IN_FLIGHT = 200
BATCH_SIZE = 4
ANSWER_WAIT_S = 60.0


def now_ms():
    return int(time.time() * 1000)


def error_kind(error):
    # RmqError subclasses carry the core's kind name ("TIMEOUT", ...) as a class attribute.
    return getattr(error, "kind", None) or type(error).__name__


class History:
    """Whole JSON lines, one writer at a time, flushed at once; nothing after `end`."""

    def __init__(self, path):
        self.file = open(path, "w", encoding="utf-8")
        self.lock = threading.Lock()

    def write(self, ev, **fields):
        line = json.dumps({"ev": ev, "t": now_ms(), **fields}, separators=(",", ":")) + "\n"
        with self.lock:
            if self.file.closed:
                return
            self.file.write(line)
            self.file.flush()
            if ev == "end":
                self.file.close()


class Driver:
    def __init__(self, namesrv, topic, group, history, rate):
        self.topic = topic
        self.history = history
        self.rate = max(rate, 0.1)
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.all_answered = threading.Condition(self.lock)
        self.unanswered = set()
        self.next_call = 0
        self.next_seq = {}  # per op, from 1 as the Rust driver numbers them
        self.async_slots = threading.Semaphore(MAX_ASYNC_IN_FLIGHT)
        self.producer = Producer(group, namesrv, send_timeout_ms=3000)
        self.producer.add_send_hook(after=self.on_attempt)

    def on_attempt(self, ctx, latency, result, error):
        fields = {"uniq": ctx.msg_id, "n": ctx.attempt, "ok": error is None}
        if error is not None:
            fields["kind"] = error_kind(error)
        self.history.write("attempt", **fields)

    def new_call(self, op, count):
        with self.lock:
            call = self.next_call
            self.next_call += 1
            first = self.next_seq.get(op, 1)
            self.next_seq[op] = first + count
            self.unanswered.add(call)
        ids = [f"{LANG}-{op}-{seq}" for seq in range(first, first + count)]
        self.history.write("call", call=call, op=op, ids=ids)
        return call, [Message(self.topic, i, keys=i) for i in ids]

    def answer(self, call, result=None, error=None, written=False):
        if written:
            fields = {"ok": True}
        elif error is None:
            name = str(result.status).rsplit(".", 1)[-1]  # "SendStatus.SEND_OK" -> "SEND_OK"
            fields = {"ok": True, "status": name, "uniq": ",".join(result.msg_ids)}
        else:
            fields = {"ok": False, "kind": error_kind(error), "error": str(error)}
        self.history.write("answer", call=call, **fields)
        with self.lock:
            self.unanswered.discard(call)
            if not self.unanswered:
                self.all_answered.notify_all()

    def paced(self, calls_per_s, send_one):
        """Calls send_one about calls_per_s times a second until stopping; a loop that fell
        behind catches up on at most one second of calls (no burst after a stall)."""
        interval = 1.0 / calls_per_s
        due = time.monotonic()
        while not self.stopping.is_set():
            send_one()
            due += interval
            late = time.monotonic() - due
            if late > 1.0:
                due = time.monotonic()
            elif late < 0:
                self.stopping.wait(-late)

    def send_sync(self):
        call, [msg] = self.new_call("sync", 1)
        try:
            result = self.producer.send(msg)
        except Exception as error:  # noqa: BLE001 - every failure is recorded, none is fatal
            self.answer(call, error=error)
        else:
            self.answer(call, result)

    def send_async(self):
        while not self.async_slots.acquire(timeout=0.1):
            if self.stopping.is_set():
                return
        call, [msg] = self.new_call("async", 1)

        def done(result, error):
            self.answer(call, result, error)
            self.async_slots.release()

        try:
            self.producer.send_callback(msg, done)
        except Exception as error:  # noqa: BLE001 - refused at once: the callback never runs
            self.async_slots.release()
            self.answer(call, error=error)

    def send_oneway(self):
        call, [msg] = self.new_call("oneway", 1)
        try:
            self.producer.send_oneway(msg)
        except Exception as error:  # noqa: BLE001
            self.answer(call, error=error)
        else:
            self.answer(call, written=True)

    def send_batch(self):
        call, msgs = self.new_call("batch", BATCH_SIZE)
        try:
            result = self.producer.send_batch(msgs)
        except Exception as error:  # noqa: BLE001
            self.answer(call, error=error)
        else:
            self.answer(call, result)

    def run(self):
        self.producer.start()
        per_mode = self.rate / 4  # messages/s for each of sync, async, oneway, batch
        loops = [
            (per_mode / 2, self.send_sync),
            (per_mode / 2, self.send_sync),
            (per_mode, self.send_async),
            (per_mode, self.send_oneway),
            (per_mode / BATCH_SIZE, self.send_batch),
        ]
        threads = [
            threading.Thread(target=self.paced, args=loop, daemon=True) for loop in loops
        ]
        for thread in threads:
            thread.start()
        for line in sys.stdin:
            if line.strip() == "stop":
                break
        self.stopping.set()
        # Shut down at once, async sends still in flight: their answers must still come.
        try:
            self.producer.shutdown()
        except Exception as error:  # noqa: BLE001
            print(f"shutdown failed: {error!r}", file=sys.stderr)
        deadline = time.monotonic() + ANSWER_WAIT_S
        with self.lock:
            while self.unanswered and time.monotonic() < deadline:
                self.all_answered.wait(deadline - time.monotonic())
            outstanding = len(self.unanswered)
        self.history.write("end", lang=LANG, outstanding=outstanding)


def main():
    if len(sys.argv) != 6:
        sys.exit("usage: driver.py NAMESRV_ADDR TOPIC GROUP HISTORY_FILE RATE")
    namesrv, topic, group, path, rate = sys.argv[1:]
    history = History(path)
    history.write("start", lang=LANG, pid=os.getpid())
    Driver(namesrv, topic, group, history, float(rate)).run()
    # Skip interpreter teardown: a sender stuck in the library must not hold up the exit.
    os._exit(0)


if __name__ == "__main__":
    main()
