#!/usr/bin/env python3
"""The chaos test (issue 14): mixed load from one driver per language, faults on a schedule drawn
from a seed, then a checker over the drivers' histories and what the Java reader finds stored.
See tests/chaos/README.md. Exit status 0 only when the verdict is PASS."""

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CLUSTER = REPO / "tests" / "cluster" / "rmq-cluster"
CACHE = Path(os.environ.get("RMQ_CACHE_DIR", REPO / ".cache"))
DRIVERS = REPO / "tests" / "chaos" / "drivers"
LANGS = ("rust", "c", "python", "node")
# Each driver's share of --rate: Rust sends every mode, the bindings fewer.
RATE_SHARE = {"rust": 0.55, "c": 0.15, "python": 0.15, "node": 0.15}
# RSS at the end may exceed RSS after warm-up by this factor plus this many MiB (no leak across
# fault cycles; a window of 1,000 async sends in flight and the routes come and go).
RSS_FACTOR, RSS_SLACK_MIB = 1.5, 32
# Throughput is back after a heal when a second reaches this share of the warm-up's median.
RECOVERED_SHARE = 0.8


def log(message):
    print(f"chaos: {message}", flush=True)


# -- the cluster -------------------------------------------------------------------------------


class Cluster:
    """The launcher's deployment on one port base."""

    def __init__(self, base, topology):
        self.base, self.topology = base, topology
        self.netns = False

    def run(self, *args, timeout=300, check=True):
        proc = subprocess.run([str(CLUSTER), "--port-base", str(self.base), *args], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"rmq-cluster {' '.join(args)}: {proc.stderr.strip() or proc.stdout.strip()}")
        return proc

    def up(self):
        args = ["up", "--topology", self.topology]
        if os.geteuid() == 0 and shutil.which("ip"):
            args.append("--netns")
        out = self.run(*args, timeout=900).stdout
        addr = next(line.split("=", 1)[1] for line in out.splitlines() if line.startswith("NAMESRV_ADDR="))
        self.netns = "--netns" in args and not addr.startswith("127.")
        return addr

    def broker_names(self):
        if self.topology == "controller":
            return ["broker-a-0", "broker-a-1", "broker-a-2"]
        if self.topology == "master-slave":
            return ["broker-a", "broker-a-s", "broker-b", "broker-b-s"]
        return ["broker-a", "broker-b"]

    def addr_of(self, name):
        """The broker's address, or why there is none (it is not running, or does not answer)."""
        proc = self.run("broker-info", name, check=False)
        if proc.returncode != 0:
            return None, proc.stderr.strip()[-300:]
        return json.loads(proc.stdout.splitlines()[0])["addr"], None


# -- the nemesis -------------------------------------------------------------------------------

# What each kind of fault does (the report's legend).
FAULT_KINDS = {
    "kill": "SIGKILL a broker; start it again (same store) when the fault ends",
    "pause": "SIGSTOP a broker; SIGCONT when the fault ends",
    "partition": "a broker's or the NameServer's link down (packets vanish); up when the fault ends",
    "drain": "brokerPermission=4 (no writes) on a broker; 6 again when the fault ends",
    "failover": "(controller) SIGKILL the master; the controller elects another; the old one restarts",
    "namesrv-restart": "SIGKILL the NameServer (and the controller inside it); start it again",
}


# A quarter of the faults run alone, each followed by this many seconds without faults.
SOLO_SHARE, SOLO_QUIET_S = 0.25, 20


def fault_kinds(topology, netns):
    kinds = ["kill", "pause", "drain", "namesrv-restart"]
    if netns:
        kinds.append("partition")
    if topology == "controller":
        kinds.append("failover")
    return kinds


def draw_schedule(seed, topology, netns, names, warmup, duration):
    """Faults as (start s, kind, target, length s), from the seed alone: the same seed and
    deployment give the same schedule. At most two overlap, never two on one server."""
    rng = random.Random(seed)
    kinds = fault_kinds(topology, netns)
    schedule, t = [], warmup + rng.uniform(3, 10)
    busy = []  # (end, target)
    while t < warmup + duration:
        busy = [(end, target) for end, target in busy if end > t]
        kind = rng.choice(kinds)
        length = round(rng.uniform(5, 30), 1)
        if kind == "namesrv-restart" or (kind == "partition" and rng.random() < 0.3):
            target = "namesrv"
        elif kind == "failover":
            target = "master"
        else:
            target = rng.choice(names)
        taken = {target for _, target in busy}
        # The controller group's master is any of its brokers: a failover takes them all.
        if target in taken or len(busy) >= 2 or (target == "master" and taken - {"namesrv"}) \
                or ("master" in taken and target != "namesrv"):
            t += rng.uniform(2, 6)
            continue
        length = min(length, warmup + duration - t)
        schedule.append((round(t, 1), kind, target, round(length, 1)))
        busy.append((t + length, target))
        t += rng.uniform(4, 20)
    return schedule


def solo_faults(seed, schedule):
    """The indexes of the faults run alone (after every other has recovered, and followed by
    SOLO_QUIET_S without faults) so that the time from their heal to full throughput is theirs.
    Drawn from a stream of their own, so the schedule itself stays what the seed always gave."""
    rng = random.Random(f"solo-{seed}")
    return {i for i in range(len(schedule)) if rng.random() < SOLO_SHARE}


class Nemesis:
    """Runs the schedule against the cluster, recording every action's start and end."""

    def __init__(self, cluster, events_path, t0):
        self.cluster, self.t0 = cluster, t0
        self.events = open(events_path, "w")
        self.lock = threading.Lock()

    def record(self, **event):
        event["t"] = int(time.time() * 1000)
        with self.lock:
            self.events.write(json.dumps(event) + "\n")
            self.events.flush()

    def step(self, action, target, *args, timeout=300):
        begin = time.time()
        proc = self.cluster.run(*args, timeout=timeout, check=False)
        ok = proc.returncode == 0
        self.record(ev="nemesis", action=action, target=target, ok=ok, seconds=round(time.time() - begin, 1),
                    output=(proc.stdout.strip() if ok else proc.stderr.strip())[-300:])
        if not ok:
            log(f"{action} {target} failed: {proc.stderr.strip()[-300:]}")
        return proc

    def fault(self, kind, target, length, alone=False):
        """Injects one fault, holds it `length` seconds, recovers; runs on a thread of its own."""
        self.record(ev="fault", kind=kind, target=target, phase="begin", alone=alone)
        log(f"t+{time.time() - self.t0:.0f}s fault {kind} {target} for {length}s")
        recover = self.inject(kind, target)
        time.sleep(length)
        if recover() is False:
            self.record(ev="fault", kind=kind, target=target, phase="end", recovered=False)
            log(f"t+{time.time() - self.t0:.0f}s gave up recovering from {kind} {target}")
            return
        self.record(ev="fault", kind=kind, target=target, phase="end")
        log(f"t+{time.time() - self.t0:.0f}s healed {kind} {target}")

    def inject(self, kind, target):
        """Injects the fault; returns the function that ends it."""
        if kind == "kill":
            self.step("kill", target, "kill-broker", target)
            return lambda: self.until_ok("start", target, "start-broker", target)
        if kind == "pause":
            self.step("pause", target, "pause-broker", target)
            return lambda: self.until_ok("resume", target, "resume-broker", target)
        if kind == "partition":
            self.step("partition", target, "partition", target)
            return lambda: self.until_ok("heal", target, "heal", target)
        if kind == "drain":
            addr, why_not = self.cluster.addr_of(target)
            if addr is None:
                # E.g. its restart by an earlier fault failed: nothing to drain, nothing to restore.
                self.record(ev="nemesis", action="drain", target=target, ok=False, seconds=0, output=why_not)
                log(f"drain {target} failed: {why_not}")
                return lambda: None
            self.step("drain", target, "admin", "updateBrokerConfig", "-b", addr, "-k", "brokerPermission", "-v", "4")
            return lambda: self.until_ok("restore", target, "admin", "updateBrokerConfig", "-b", addr,
                                         "-k", "brokerPermission", "-v", "6")
        if kind == "failover":
            proc = self.step("failover", "broker-a", "failover", "broker-a")
            killed = json.loads(proc.stdout).get("killed") if proc.returncode == 0 else None
            return (lambda: self.until_ok("start", killed, "start-broker", killed)) if killed else (lambda: None)
        if kind == "namesrv-restart":
            self.step("kill", target, "kill-namesrv")
            return lambda: self.until_ok("start", target, "start-namesrv")
        raise ValueError(kind)

    def until_ok(self, action, target, *args):
        """A recovery, which another fault may hold up (a broker cannot start, nor mqadmin restore a
        permission, while the NameServer is down, and NameServer faults can follow each other for
        minutes): tried again every 2 s for up to 10 minutes. False when it never succeeded."""
        deadline = time.time() + 600
        while self.step(action, target, *args).returncode != 0:
            if time.time() > deadline:
                return False
            time.sleep(2)
        return True

    def run(self, schedule, solo, stop_at):
        active = {}  # target -> the thread of its fault
        for i, (start, kind, target, length) in enumerate(schedule):
            delay = self.t0 + start - time.time()
            if delay > 0:
                time.sleep(delay)
            # A server's previous fault ends with its recovery (a restart can take a minute):
            # the next fault on it waits for that, so faults on one server never overlap.
            for other, thread in active.items():
                if i in solo or other == target or "master" in (other, target) and "namesrv" not in (other, target):
                    thread.join()
            # Never more than two at once, however late the schedule runs.
            while sum(thread.is_alive() for thread in active.values()) >= 2:
                time.sleep(0.5)
            if time.time() >= stop_at:
                break
            thread = threading.Thread(target=self.fault, args=(kind, target, length, i in solo), daemon=True)
            thread.start()
            active[target] = thread
            if i in solo:
                thread.join()
                time.sleep(SOLO_QUIET_S)
        for thread in active.values():
            thread.join()


def start_responder(port_base, topic, timeout_ms, log_file, attempts=3):
    """The Java reply responder of the request-reply drivers, once it consumes. Its start is tried
    again when a call of its client timed out (a loaded machine can make the NameServer answer
    later than the Java client's 3 s)."""
    for attempt in range(1, attempts + 1):
        with open(log_file, "w") as stderr:
            responder = subprocess.Popen([str(CLUSTER), "--port-base", str(port_base), "reply-responder", topic,
                                          "--count", "100000000", "--timeout-ms", str(timeout_ms)],
                                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, text=True)
        if "ready" in responder.stdout.readline():
            threading.Thread(target=lambda: responder.stdout.read(), daemon=True).start()
            return responder
        responder.wait()
        error = Path(log_file).read_text(errors="replace").strip()
        if "RemotingTimeoutException" not in error or attempt == attempts:
            raise RuntimeError(f"the reply responder did not start: {error}")
        log(f"the reply responder did not start ({error}); trying again")


# -- the drivers -------------------------------------------------------------------------------


def build_drivers(langs, out, prebuilt=False):
    """Builds the drivers of `langs` and what they link (the library, the addon; the Python wheel
    when none is installed: `make python-wheel` refreshes it); with `prebuilt`, only the drivers,
    for a run beside another that built the rest. Returns lang -> command prefix."""
    python = CACHE / "venv-python" / "bin" / "python"
    c_driver, libdir = out / "c-driver", REPO / "build" / "ffi" / "lib"
    if "rust" in langs:
        log("building the Rust driver (cargo build --example chaos_driver)")
        subprocess.run(["cargo", "build", "-q", "-p", "rmq-core", "--example", "chaos_driver"], cwd=REPO, check=True)
    if "c" in langs:
        if not prebuilt:
            log("building the C library (make ffi)")
            subprocess.run(["make", "--no-print-directory", "-s", "ffi"], cwd=REPO, check=True)
        subprocess.run(["cc", "-O1", "-pthread", str(DRIVERS / "c" / "driver.c"), "-I", str(REPO / "include"),
                        "-L", str(libdir), "-lrmqproducer", f"-Wl,-rpath,{libdir}", "-o", str(c_driver)], check=True)
    if "python" in langs and not prebuilt:
        installed = python.exists() and subprocess.run([str(python), "-c", "import rmqproducer"],
                                                       capture_output=True).returncode == 0
        if not installed:
            log("building the Python binding (make python-wheel)")
            subprocess.run(["make", "--no-print-directory", "-s", "python-wheel"], cwd=REPO, check=True)
    if "node" in langs and not prebuilt:
        log("building the Node addon (make node-build)")
        subprocess.run(["make", "--no-print-directory", "-s", "node-build"], cwd=REPO, check=True)
    commands = {"rust": [str(REPO / "target" / "debug" / "examples" / "chaos_driver")],
                "c": [str(c_driver)],
                "python": [str(python), str(DRIVERS / "python" / "driver.py")],
                "node": ["node", str(DRIVERS / "node" / "driver.mjs")]}
    return {lang: commands[lang] for lang in langs}


def rss_kib(pid):
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


# -- the checker -------------------------------------------------------------------------------


def read_jsonl(path):
    records = []
    try:
        with open(path, errors="replace") as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        records.append(json.loads(line))
                    except json.JSONDecodeError:
                        records.append({"ev": "garbled", "line": line[:200]})
    except OSError:
        pass
    return records


def check(out, langs, stored_lines, requests_stored, nemesis_events, rss, exits, t_warm):
    """Everything the report says, from the histories and the stored messages."""
    stored = defaultdict(list)  # our id -> stored copies' UNIQ_KEYs
    for m in stored_lines:
        stored[m.get("keys") or ""].append(m.get("msgId"))
    for m in requests_stored:
        stored[m.get("keys") or ""].append(m.get("msgId"))
    r = {"langs": {}, "violations": [], "stored_ids": len(stored),
         "stored_copies": sum(len(copies) for copies in stored.values())}
    attempts = Counter()  # UNIQ_KEY -> attempts recorded
    failed_attempts = Counter()
    known_ids = set()
    tx_ids, committed_locally, commit_checks = set(), set(), Counter()
    acks = []  # (t ms) of each answer acknowledging a store
    errors_t = []
    for lang in langs:
        history = read_jsonl(out / f"history-{lang}.jsonl")
        calls = {e["call"]: e for e in history if e.get("ev") == "call"}
        answers = defaultdict(list)
        for e in history:
            if e.get("ev") == "answer":
                answers[e["call"]].append(e)
            elif e.get("ev") == "attempt":
                for uniq in str(e.get("uniq", "")).split(","):
                    attempts[uniq] += 1
                    if not e.get("ok"):
                        failed_attempts[uniq] += 1
        checks = defaultdict(list)
        for e in history:
            if e.get("ev") == "check":
                checks[e.get("id")].append(e.get("answer"))
                if e.get("answer") == "commit":
                    commit_checks[e.get("id")] += 1
        s = {"calls": Counter(), "ok": Counter(), "errors": Counter(), "never": 0, "twice": 0, "lost": [],
             "oneway_sent": 0, "oneway_stored": 0, "tx": Counter(), "internal": 0,
             "end": any(e.get("ev") == "end" for e in history), "status": Counter(),
             "other_status": Counter(), "other_status_stored": Counter()}
        s["garbled"] = sum(1 for e in history if e.get("ev") == "garbled")  # lines that are not JSON
        for call_id, call in calls.items():
            op, ids = call["op"], call.get("ids", [])
            known_ids.update(ids)
            s["calls"][op] += 1
            if op == "tx":
                tx_ids.update(ids)
            got = answers.get(call_id, [])
            if not got:
                s["never"] += 1
                r["violations"].append(f"{lang} {op} call {call_id} ({ids[0] if ids else ''}) never answered")
                continue
            if len(got) > 1:
                s["twice"] += 1
                r["violations"].append(f"{lang} {op} call {call_id} ({ids[0] if ids else ''}) answered "
                                       f"{len(got)} times")
            answer = got[0]
            if not answer.get("ok"):
                kind = answer.get("kind", "?")
                s["errors"][f"{op}:{kind}"] += 1
                errors_t.append(answer["t"])
                if kind == "INTERNAL":
                    s["internal"] += 1
                    r["violations"].append(f"{lang} {op} call {call_id}: INTERNAL: {answer.get('error')}")
                if op == "tx" and any(stored.get(i) for i in ids) and "commit" not in checks.get(ids[0], []):
                    r["violations"].append(f"{lang} tx {ids[0]} failed, never committed by a check, yet visible")
                continue
            s["ok"][op] += 1
            status = answer.get("status")
            if status:
                s["status"][status] += 1
            if op == "oneway":
                s["oneway_sent"] += 1
                s["oneway_stored"] += 1 if stored.get(ids[0]) else 0
                continue
            if op in ("sync", "async", "batch", "request") and status in ("SEND_OK", None):
                acks.append(answer["t"])
                for i in ids:
                    if not stored.get(i):
                        s["lost"].append(i)
                if op == "request" and answer.get("reply") != f"reply:{ids[0]}":
                    r["violations"].append(f"{lang} request {ids[0]} got reply {answer.get('reply')!r}")
            elif op != "tx":
                # Stored on the master, not (yet) on its slaves: a failover may lose it.
                s["other_status"][status] += len(ids)
                s["other_status_stored"][status] += sum(1 for i in ids if stored.get(i))
            if op == "tx":
                # A half message not stored SEND_OK is rolled back without running the local
                # transaction (as in Java).
                local = "rollback" if answer.get("local_state") == "ROLLBACK_MESSAGE" else call.get("local")
                if local == "commit":
                    committed_locally.add(ids[0])
                visible = bool(stored.get(ids[0]))
                committed_by_check = "commit" in checks.get(ids[0], [])
                if local == "commit":
                    acks.append(answer["t"])
                    s["tx"]["commit"] += 1
                    if not visible:
                        s["lost"].append(ids[0])
                elif local == "rollback" or not committed_by_check:
                    s["tx"][local] += 1
                    if visible:
                        r["violations"].append(f"{lang} tx {ids[0]} ({local}, no commit check) is visible")
                else:
                    s["tx"]["unknown-committed"] += 1
                    if not visible:
                        s["tx"]["unknown-committed-not-visible"] += 1
        for i in s["lost"]:
            r["violations"].append(f"{lang}: acknowledged {i} is not stored")
        if not s["end"]:
            r["violations"].append(f"{lang}: the driver wrote no end record (exit {exits.get(lang)})")
        if exits.get(lang) != 0:
            r["violations"].append(f"{lang}: the driver exited with {exits.get(lang)}")
        if s["garbled"]:
            r["violations"].append(f"{lang}: {s['garbled']} history lines are not JSON")
        log_text = (out / f"driver-{lang}.log").read_text(errors="replace") if (out / f"driver-{lang}.log").exists() else ""
        s["panics"] = log_text.count("panicked")
        if s["panics"]:
            r["violations"].append(f"{lang}: {s['panics']} panics in the driver's log")
        r["langs"][lang] = s

    # Duplicates: copies of one message beyond the first, each explained by an attempt recorded.
    dup = {"messages": 0, "copies": 0, "explained": 0, "by_retries": 0, "by_commit_checks": 0, "unexplained": []}
    for msg_id, copies in stored.items():
        if msg_id and msg_id not in known_ids:
            r["violations"].append(f"stored message {msg_id} was never sent by a driver")
        if len(copies) > 1:
            dup["messages"] += 1
            dup["copies"] += len(copies) - 1
            uniq = copies[0]
            # A transaction is stored once per commit: END_TRANSACTION's, and each check-back's
            # (the broker asks again about a half message whose outcome it lost in a failover).
            commits = (1 if msg_id in committed_locally else 0) + commit_checks[msg_id]
            retried = attempts[uniq] >= len(copies) and failed_attempts[uniq] >= len(copies) - 1
            if retried or (msg_id in tx_ids and commits >= len(copies)):
                dup["explained"] += len(copies) - 1
                dup["by_commit_checks" if msg_id in tx_ids else "by_retries"] += len(copies) - 1
            else:
                dup["unexplained"].append(f"{msg_id} ({len(copies)} copies, {attempts[uniq]} attempts, "
                                          f"{failed_attempts[uniq]} failed)")
    for text in dup["unexplained"]:
        r["violations"].append(f"duplicate not explained by a retry: {text}")
    r["duplicates"] = dup

    # Throughput per second and time from each recovery to full throughput.
    r["series"] = throughput_series(acks, errors_t)
    start_s = min(r["series"]) if r["series"] else 0
    warm = [n for s_, (n, _) in r["series"].items() if t_warm / 2 <= s_ - start_s < t_warm]
    baseline = statistics.median(warm) if warm else 0
    r["baseline"] = baseline
    r["recoveries"] = recoveries(nemesis_events, r["series"], baseline)
    r["rss"] = {}
    for lang, samples in rss.items():
        after_warm = next((kib for t, kib in samples if t >= t_warm), None)
        end = samples[-1][1] if samples else None
        r["rss"][lang] = (after_warm, end)
        if after_warm and end and end > after_warm * RSS_FACTOR + RSS_SLACK_MIB * 1024:
            r["violations"].append(f"{lang}: RSS grew from {after_warm // 1024} MiB after warm-up to "
                                   f"{end // 1024} MiB (bound: x{RSS_FACTOR} + {RSS_SLACK_MIB} MiB)")
    return r


def throughput_series(acks, errors_t):
    """Per second since the epoch: (acknowledged stores, errors)."""
    stores, errors = Counter(t // 1000 for t in acks), Counter(t // 1000 for t in errors_t)
    if not stores:
        return {}
    seconds = range(min(stores), max(max(stores), max(errors, default=0)) + 1)
    return {s: (stores[s], errors[s]) for s in seconds}


def recoveries(events, series, baseline):
    """For each fault's end: seconds until a second reaches RECOVERED_SHARE of the baseline;
    `blocked` says why there is no number: another fault still held at the heal, or begun before
    throughput came back."""
    faults = faults_injected(events, 0)
    out = []
    for i, (_, kind, target, end, _) in enumerate(faults):
        if end is None:
            continue
        held = any(b <= end and (e is None or e > end) for j, (b, _, _, e, _) in enumerate(faults) if j != i)
        next_begin = min((b for b, _, _, _, _ in faults if b > end), default=float("inf"))
        took, s = None, int(end)
        while not held and s in series and s < next_begin:
            if series[s][0] >= RECOVERED_SHARE * baseline:
                took = max(0.0, s + 1 - end)
                break
            s += 1
        blocked = "another fault still held" if held else (
            "next fault began first" if took is None and next_begin < float("inf") else None)
        out.append({"kind": kind, "target": target, "seconds": took, "blocked": blocked})
    return out


# -- the report ----------------------------------------------------------------------------------


# The nemesis step that injects each kind of fault (a failover's step names the group, not "master").
INJECTING_STEP = {"kill": "kill", "pause": "pause", "partition": "partition", "drain": "drain",
                  "failover": "failover", "namesrv-restart": "kill"}


def faults_injected(events, t0):
    """(begin s, kind, target, end s or None when not recovered, run alone) of each fault whose
    injecting step succeeded, seconds since `t0`. A fault whose injection failed (the step is among
    the failed ones) changed nothing, so it holds no heal up."""
    faults, open_at = [], {}
    for e in events:
        if e.get("ev") == "nemesis" and e.get("ok"):
            for (kind, target), i in open_at.items():
                if e["action"] == INJECTING_STEP[kind] and (e["target"] == target or kind == "failover"):
                    faults[i][5] = True
        if e.get("ev") != "fault":
            continue
        key = (e["kind"], e["target"])
        if e["phase"] == "begin":
            open_at[key] = len(faults)
            faults.append([e["t"] / 1000 - t0, e["kind"], e["target"], None, bool(e.get("alone")), False])
        elif key in open_at:
            fault = faults[open_at.pop(key)]
            if e.get("recovered", True):
                fault[3] = e["t"] / 1000 - t0
    return [tuple(f[:5]) for f in faults if f[5]]


def chart(path, series, events, t0):
    import matplotlib
    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "chaos"  # the same run draws the same file
    import matplotlib.pyplot as plt
    seconds = sorted(series)
    xs = [s - t0 for s in seconds]
    fig, ax = plt.subplots(figsize=(12, 4.5))
    ax.plot(xs, [series[s][0] for s in seconds], lw=0.8, color="tab:blue", label="acknowledged stores/s")
    ax.plot(xs, [series[s][1] for s in seconds], lw=0.8, color="tab:red", label="errors/s")
    colors = {"kill": "tab:red", "pause": "tab:orange", "partition": "tab:purple", "drain": "tab:green",
              "failover": "tab:brown", "namesrv-restart": "tab:gray"}
    labelled = set()
    for begin, kind, _, end, _ in faults_injected(events, t0):
        ax.axvspan(begin, end if end is not None else xs[-1], alpha=0.18, color=colors.get(kind),
                   label=None if kind in labelled else kind)
        labelled.add(kind)
    ax.set_xlabel("seconds since the drivers started")
    ax.set_ylabel("per second")
    ax.legend(loc="upper right", fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, metadata={"Date": None})
    plt.close(fig)


def report(out, args, schedule, result, nemesis_events, verdict, t0, read_seconds):
    lines = [f"# Chaos run: {args.topology}, seed {args.seed}, {args.duration} s of faults", "",
             f"**Verdict: {verdict}**", "",
             f"- command: `python3 tests/chaos/chaos.py --seed {args.seed} --duration {args.duration} "
             f"--topology {args.topology} --langs {','.join(args.langs)} --rate {args.rate}`",
             f"- warm-up {args.warmup} s, faults {args.duration} s, settle {args.settle} s; "
             f"read back by the Java reader in {read_seconds:.0f} s",
             f"- started {time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime(t0))}", ""]
    injected = faults_injected(nemesis_events, t0)
    lines += ["## Faults", "",
              f"{len(schedule)} drawn from the seed, {len(injected)} injected: a fault waits for the recovery of "
              f"the last one on its server (a restart can take a minute) and while two others last, and those "
              f"that would begin after the fault period are dropped; a recovery that fails for 10 minutes is "
              f"given up (\"not recovered\": the final `up` restores the deployment). Faults by kind: "
              + ", ".join(f"{k} {n}" for k, n in sorted(Counter(f[1] for f in injected).items())), "",
              "| begins s | fault | target | ends s (recovered) | drawn for s |", "|---|---|---|---|---|"]
    drawn = defaultdict(list)
    for start, kind, target, _ in schedule:
        drawn[(kind, target)].append(start)
    for begin, kind, target, end, alone in injected:
        planned = drawn[(kind, target)].pop(0) if drawn[(kind, target)] else "-"
        lines.append(f"| {begin:.0f} | {kind}{' (alone)' if alone else ''} | {target} | "
                     f"{'not recovered' if end is None else f'{end:.0f}'} | {planned} |")
    lines += [""] + [f"- {kind}: {FAULT_KINDS[kind]}" for kind in sorted({f[1] for f in injected})] + [""]
    failed_steps = [e for e in nemesis_events if e.get("ev") == "nemesis" and not e.get("ok")]
    if failed_steps:
        lines += ["Nemesis steps that failed (a recovery is tried again every 2 s, for up to 10 minutes):", ""]
        failures = Counter((e["action"], e["target"], e.get("output", "")[:160]) for e in failed_steps)
        lines += [f"- {action} {target} ({n} times): {output}" for (action, target, output), n in failures.items()]
        lines += [""]
    lines += ["## Sends", "", "| language | mode | calls | ok | errors by kind |", "|---|---|---|---|---|"]
    for lang, s in result["langs"].items():
        for op in sorted(s["calls"]):
            errs = ", ".join(f"{k.split(':', 1)[1]} {n}" for k, n in sorted(s["errors"].items())
                             if k.startswith(op + ":"))
            lines.append(f"| {lang} | {op} | {s['calls'][op]} | {s['ok'][op]} | {errs or '-'} |")
    lines += ["", "| language | answered never | answered twice | acknowledged and lost | panics | INTERNAL | "
              "oneway stored / sent | transactions |", "|---|---|---|---|---|---|---|---|"]
    for lang, s in result["langs"].items():
        tx = ", ".join(f"{k} {n}" for k, n in sorted(s["tx"].items())) or "-"
        lines.append(f"| {lang} | {s['never']} | {s['twice']} | {len(s['lost'])} | {s['panics']} | "
                     f"{s['internal']} | {s['oneway_stored']} / {s['oneway_sent']} | {tx} |")
    statuses = Counter()
    for s in result["langs"].values():
        statuses.update(s["status"])
    other, other_stored = Counter(), Counter()
    for s in result["langs"].values():
        other.update(s["other_status"])
        other_stored.update(s["other_status_stored"])
    lines += ["", "Send statuses of the acknowledged sends: "
              + ", ".join(f"{k} {n}" for k, n in sorted(statuses.items())), "",
              "Messages acknowledged with another status than SEND_OK (stored on the master only; a failover "
              "may lose them, and the checker does not require them): "
              + (", ".join(f"{k}: {other_stored[k]} of {n} stored" for k, n in sorted(other.items())) or "none")
              + "; transactions whose half message was not SEND_OK are rolled back.", "",
              f"Stored: {result['stored_copies']} copies of {result['stored_ids']} distinct messages (requests "
              f"included), every one read back by the Java reader.", ""]
    d = result["duplicates"]
    lines += ["## Duplicates", "",
              f"{d['messages']} messages stored more than once ({d['copies']} extra copies); "
              f"{d['explained']} explained by the history: {d['by_retries']} by a retry (the message's attempts "
              f"at least its copies, and a failed attempt before each extra copy), {d['by_commit_checks']} by "
              f"commits (a transaction's END_TRANSACTION and each check-back answered commit); "
              f"{len(d['unexplained'])} not.", ""]
    lines += ["## Memory", "", "| language | RSS after warm-up MiB | RSS at the end MiB |", "|---|---|---|"]
    for lang, (warm, end) in result["rss"].items():
        lines.append(f"| {lang} | {warm and round(warm / 1024, 1)} | {end and round(end / 1024, 1)} |")
    lines += ["", f"Bound: end <= after warm-up x {RSS_FACTOR} + {RSS_SLACK_MIB} MiB.", ""]
    lines += ["## Heal to throughput", "",
              f"Baseline: the warm-up's median, {result['baseline']} acknowledged stores/s; recovered when a "
              f"second reaches {int(RECOVERED_SHARE * 100)} % of it.", "",
              "| fault | target | seconds to full throughput |", "|---|---|---|"]
    for rec in result["recoveries"]:
        took = f"{rec['seconds']:.0f}" if rec["seconds"] is not None else (rec["blocked"] or "not within the run")
        lines.append(f"| {rec['kind']} | {rec['target']} | {took} |")
    known = [rec["seconds"] for rec in result["recoveries"] if rec["seconds"] is not None]
    if known:
        lines += ["", f"Median {statistics.median(known):.0f} s, max {max(known):.0f} s over {len(known)} heals."]
    lines += ["", "## Violations", ""]
    lines += [f"- {v}" for v in result["violations"][:200]] or ["none"]
    if (out / "chart.svg").exists():
        lines += ["", "## Throughput and errors", "", "![throughput](chart.svg)"]
    (out / "report.md").write_text("\n".join(lines) + "\n")


# -- the run -------------------------------------------------------------------------------------


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--duration", type=int, default=180, help="seconds of faults")
    p.add_argument("--topology", default="controller", choices=["masters", "master-slave", "controller"])
    p.add_argument("--langs", default="rust,c,python,node", type=lambda s: [x for x in s.split(",") if x])
    p.add_argument("--rate", type=float, default=400, help="messages per second over all drivers")
    p.add_argument("--warmup", type=int, default=30)
    p.add_argument("--settle", type=int, default=30, help="seconds of load after every fault healed")
    p.add_argument("--port-base", type=int, default=int(os.environ.get("RMQ_CHAOS_PORT_BASE", 29876)))
    p.add_argument("--out", type=Path)
    p.add_argument("--report", type=Path, help="also copy report.md and chart.svg here")
    p.add_argument("--chart", action="store_true", help="draw chart.svg (needs matplotlib)")
    p.add_argument("--inject", choices=["drop-ack", "double-answer"],
                   help="the checker's self-test: the Rust driver fakes one bug")
    p.add_argument("--keep", action="store_true", help="leave the cluster up")
    p.add_argument("--prebuilt", action="store_true",
                   help="build only the drivers: a run beside this one built what they link")
    p.add_argument("--schedule-only", action="store_true", help="print the schedule and exit")
    p.add_argument("--recheck", type=Path, metavar="OUT", help="judge a finished run's saved files again")
    args = p.parse_args()
    if args.recheck:
        return judge(args.recheck, args, json.loads((args.recheck / "run.json").read_text()))
    bad = [lang for lang in args.langs if lang not in LANGS]
    if bad or "rust" not in args.langs:
        p.error(f"--langs: rust and any of {', '.join(LANGS[1:])} (got {','.join(args.langs)})")
    cluster = Cluster(args.port_base, args.topology)
    names = cluster.broker_names()
    netns_possible = os.geteuid() == 0 and shutil.which("ip") is not None
    schedule = draw_schedule(args.seed, args.topology, netns_possible, names, args.warmup, args.duration)
    log(f"seed {args.seed}, {args.topology}: {len(schedule)} faults (same seed, same schedule)")
    solo = solo_faults(args.seed, schedule)
    for i, (start, kind, target, length) in enumerate(schedule):
        print(f"  t+{start:7.1f}s {kind:16} {target:12} {length:5.1f}s{'  alone' if i in solo else ''}", flush=True)
    if args.schedule_only:
        return 0

    out = args.out or CACHE / "chaos" / f"{args.topology}-{args.seed}"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    os.environ.setdefault("RMQ_BROKER_CONF", "transactionTimeOut=2000;transactionCheckInterval=2000")
    commands = build_drivers(args.langs, out, prebuilt=args.prebuilt)
    log(f"starting the {args.topology} deployment on port base {args.port_base}")
    namesrv = cluster.up()
    drivers, responder = {}, None
    try:
        if netns_possible and not cluster.netns:
            log("network namespaces unavailable: the schedule's partitions will fail and are reported")
        run_id = int(time.time())
        topic, request_topic = f"chaos-{run_id}", f"chaos-request-{run_id}"
        cluster.run("create-topic", topic, "--queues", "4")
        cluster.run("create-topic", request_topic, "--queues", "2")
        total = args.warmup + args.duration + args.settle
        responder = start_responder(args.port_base, request_topic, (total + 120) * 1000, out / "responder.log")

        t0 = time.time()
        for lang in args.langs:
            env = dict(os.environ, CHAOS_REQUEST_TOPIC=request_topic, RUST_BACKTRACE="1")
            if args.inject and lang == "rust":
                env["CHAOS_INJECT"] = args.inject
            rate = args.rate * RATE_SHARE[lang] / sum(RATE_SHARE[x] for x in args.langs)
            cmd = [*commands[lang], namesrv, topic, f"chaos_{lang}_{run_id}", str(out / f"history-{lang}.jsonl"),
                   f"{rate:.1f}"]
            drivers[lang] = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=open(out / f"driver-{lang}.log", "w"),
                                             stderr=subprocess.STDOUT, text=True, cwd=out, env=env)
        log(f"drivers started ({', '.join(args.langs)}) on topic {topic}, {args.rate:.0f} messages/s in all")

        rss = defaultdict(list)
        sampling = threading.Event()

        def sample():
            while not sampling.is_set():
                for lang, proc in drivers.items():
                    kib = rss_kib(proc.pid)
                    if kib:
                        rss[lang].append((time.time() - t0, kib))
                sampling.wait(1)

        threading.Thread(target=sample, daemon=True).start()
        nemesis = Nemesis(cluster, out / "nemesis.jsonl", t0)
        nemesis.run(schedule, solo, t0 + args.warmup + args.duration + 60)
        log("every fault healed; checking the deployment is whole again")
        up = cluster.run("up", "--topology", args.topology, *(["--netns"] if cluster.netns else []),
                         timeout=900, check=False)
        if up.returncode != 0:
            log(f"the deployment did not come back whole: {up.stderr.strip()[-300:]}")
        settle_until = max(t0 + args.warmup + args.duration, time.time()) + args.settle
        while time.time() < settle_until:
            time.sleep(1)
        log("stopping the drivers (each shuts down with sends in flight)")
        for proc in drivers.values():
            try:
                proc.stdin.write("stop\n")
                proc.stdin.close()
            except OSError:
                pass
        exits = {}
        for lang, proc in drivers.items():
            try:
                exits[lang] = proc.wait(timeout=180)
            except subprocess.TimeoutExpired:
                proc.kill()
                exits[lang] = "killed after 180 s"
        sampling.set()
        responder.terminate()

        log("reading every stored message back with the Java reader")
        begin = time.time()
        stored = [json.loads(line) for line in cluster.run("read-topic", topic, "--timeout-ms", "120000",
                                                           timeout=900).stdout.splitlines() if line.strip()]
        requests = [json.loads(line) for line in cluster.run("read-topic", request_topic, "--timeout-ms", "60000",
                                                             timeout=900).stdout.splitlines() if line.strip()]
        read_seconds = time.time() - begin
        with open(out / "stored.jsonl", "w") as f:
            f.writelines(json.dumps(m) + "\n" for m in stored + requests)
        log(f"{len(stored)} messages stored on {topic}, {len(requests)} requests")
        run = {"args": {k: getattr(args, k) for k in RUN_ARGS}, "schedule": schedule, "t0": t0, "exits": exits,
               "rss": rss, "read_seconds": read_seconds}
        (out / "run.json").write_text(json.dumps(run) + "\n")
    finally:
        # Whatever failed, nothing of the run is left running (but the deployment with --keep).
        for proc in [*drivers.values(), responder]:
            if proc is not None and proc.poll() is None:
                proc.kill()
        if not args.keep:
            cluster.run("down", check=False)
    return judge(out, args, run)


# The options a run keeps in run.json (with its schedule, start, exits and RSS samples), beside the
# histories, nemesis.jsonl and stored.jsonl, so that --recheck can judge it again.
RUN_ARGS = ("seed", "duration", "topology", "langs", "rate", "warmup", "settle")


def judge(out, args, run):
    """Checks a finished run from what it saved in `out`, writes the report, returns the exit status."""
    for key, value in run["args"].items():
        setattr(args, key, value)
    schedule, t0 = [tuple(fault) for fault in run["schedule"]], run["t0"]
    stored = read_jsonl(out / "stored.jsonl")
    nemesis_events = read_jsonl(out / "nemesis.jsonl")
    result = check(out, args.langs, stored, [], nemesis_events, run["rss"], run["exits"], args.warmup)
    verdict = "PASS" if not result["violations"] else f"FAIL ({len(result['violations'])} violations)"
    if args.chart:
        chart(out / "chart.svg", result["series"], nemesis_events, t0)
    report(out, args, schedule, result, nemesis_events, verdict, t0, run["read_seconds"])
    if args.report:
        args.report.mkdir(parents=True, exist_ok=True)
        for name in ("report.md", "chart.svg"):
            if (out / name).exists():
                shutil.copy(out / name, args.report / name)
    for v in result["violations"][:20]:
        log(f"violation: {v}")
    log(f"verdict: {verdict} (report: {out / 'report.md'})")
    if args.inject:
        return self_test_outcome(args.inject, result["violations"])
    return 0 if verdict == "PASS" else 1


# What the checker must report, and only that, when the Rust driver fakes a bug.
INJECTED = {"drop-ack": "rust: acknowledged rust-sync-50 is not stored",
            "double-answer": "rust async call"}


def self_test_outcome(bug, violations):
    caught = [v for v in violations if v.startswith(INJECTED[bug]) and
              (bug == "drop-ack" or "(rust-async-50) answered 2 times" in v)]
    others = [v for v in violations if v not in caught]
    if caught and not others:
        log(f"self-test: the checker caught the injected {bug}: {caught[0]}")
        return 0
    log(f"self-test FAILED: injected {bug}; caught {caught or 'nothing'}; other violations: {others[:5]}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
