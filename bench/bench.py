#!/usr/bin/env python3
"""Runs every benchmark client through every case, against the local cluster and against the
in-process ceiling broker, and writes bench/results/ (see bench/README.md).

Each client is a separate process following one command-line contract and printing one JSON
line; this driver adds what the process cannot see about itself (its whole CPU time and peak RSS,
from wait4), alternates the clients, repeats each case, and reports medians.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Optional

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("BENCH_CACHE", REPO / ".cache" / "bench"))
#: Every bench cargo build shares this target folder (bench/build.sh), so shared crates build once.
TARGET = Path(os.environ.get("BENCH_TARGET_DIR", CACHE / "target"))
RMQ_CACHE = Path(os.environ.get("RMQ_CACHE_DIR", REPO / ".cache"))
JAVA_LIB = RMQ_CACHE / "rocketmq-5.3.3" / "lib"
LAUNCHER = REPO / "tests" / "cluster" / "rmq-cluster"
TOPIC = "BenchTopic"
RUN_TIMEOUT_S = 180


# ---------------------------------------------------------------------------------------------
# Clients


@dataclasses.dataclass
class Client:
    name: str
    label: str
    ours: bool
    command: list[str]
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    #: Why the client cannot run (None when it can).
    missing: Optional[str] = None
    #: Whether it takes --auto-batch (the peers without auto-batching skip those cases).
    auto_batch: bool = False


def status_note(name: str) -> Optional[str]:
    """The reason a build step recorded for a client it could not build (bench/build-*.sh)."""
    note = CACHE / "status" / f"{name}.txt"
    return note.read_text().strip() if note.exists() else None


def binary_client(name: str, label: str, ours: bool, path: Path, env=None) -> Client:
    missing = None if path.exists() else (status_note(name) or f"not built ({path} is missing)")
    return Client(name, label, ours, [str(path)], env or {}, missing)


def clients() -> list[Client]:
    home = str(CACHE / "home")
    java_cp = f"{CACHE / 'java-classes'}:{JAVA_LIB}/*"
    java = Client(
        "java",
        "Java rocketmq-client 5.3.3",
        False,
        ["java", "-Xmx1g", f"-Duser.home={home}", "-cp", java_cp, "BenchProducer"],
        auto_batch=True,
    )
    if not (CACHE / "java-classes" / "BenchProducer.class").exists():
        java.missing = status_note("java") or "not built (BenchProducer.class is missing)"
    python = CACHE / "venv" / "bin" / "python"
    ours_python = Client(
        "ours-python", "ours via Python", True,
        [str(python), str(REPO / "bench" / "python" / "bench_ours.py")],
    )
    ours_python.missing = status_note("ours-python") or (
        None if python.exists() else "not built (no bench venv)")
    ours_node = Client(
        "ours-node", "ours via Node", True, ["node", str(REPO / "bench" / "node" / "bench_ours.js")]
    )
    addon = REPO / "bindings" / "node" / "rmqproducer.linux-x64-gnu.node"
    ours_node.missing = status_note("ours-node") or (
        None if addon.exists() else f"not built (no {addon.name})")
    ours = [
        binary_client("ours-rust", "ours via Rust", True, TARGET / "release" / "bench-ours"),
        binary_client("ours-c", "ours via C", True, CACHE / "bin" / "bench-ours-c"),
        ours_python,
        ours_node,
    ]
    for client in ours:
        client.auto_batch = True
    return ours + [
        java,
        binary_client("cpp", "C++ rocketmq-client-cpp (C API)", False, CACHE / "bin" / "bench-cpp",
                      {"HOME": home}),
        binary_client("rust-mxsm", "rocketmq-client-rust 1.0.0", False,
                      TARGET / "release" / "bench-mxsm"),
    ]


# ---------------------------------------------------------------------------------------------
# Cases


@dataclasses.dataclass
class Case:
    number: int
    slug: str
    title: str
    mode: str
    body: int
    count: int
    threads: int = 1
    in_flight: int = 1
    compress: bool = False
    auto_batch: bool = False

    def args(self, count: int) -> list[str]:
        args = ["--mode", self.mode, "--threads", str(self.threads), "--in-flight",
                str(self.in_flight), "--count", str(count)]
        return (args + (["--compress"] if self.compress else [])
                + (["--auto-batch"] if self.auto_batch else []))


CASES = [
    Case(1, "sync-1t", "sync, 1 thread, 1 KiB", "sync", 1024, 3000),
    Case(2, "async-1024", "async, 1024 in flight, 1 KiB", "async", 1024, 20000, in_flight=1024),
    Case(3, "oneway", "oneway, 1 thread, 1 KiB", "oneway", 1024, 20000),
    Case(4, "sync-16t", "sync, 16 threads, 1 KiB", "sync", 1024, 12000, threads=16),
    Case(5, "async-64k-zlib", "async, 1024 in flight, 64 KiB, zlib on", "async", 65536, 1000,
         in_flight=1024, compress=True),
    Case(6, "async-auto-batch", "async, 1024 in flight, 1 KiB, auto-batch on", "async", 1024,
         20000, in_flight=1024, auto_batch=True),
]


def body_file(size: int) -> Path:
    """Text-like bytes (words from a fixed vocabulary, seeded): compressible as real payloads are,
    identical for every client."""
    path = CACHE / "bodies" / f"body-{size}.bin"
    if not path.exists():
        rng = random.Random(8)
        letters = "abcdefghijklmnopqrstuvwxyz"
        words = ["".join(rng.choice(letters) for _ in range(rng.randint(2, 9))) for _ in range(400)]
        text, length = [], 0
        while length < size:
            word = rng.choice(words) + rng.choice("  ,.\n")
            text.append(word)
            length += len(word)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes("".join(text).encode()[:size])
    return path


# ---------------------------------------------------------------------------------------------
# Targets: the real cluster and the ceiling broker


class Cluster:
    """The launcher's local cluster: started (and later stopped) unless one is already up."""

    def __init__(self) -> None:
        self.started = False
        self.addr = ""

    def __enter__(self) -> "Cluster":
        already = subprocess.run([str(LAUNCHER), "status"], capture_output=True).returncode == 0
        out = subprocess.run([str(LAUNCHER), "up"], capture_output=True, text=True, check=True)
        self.started = not already
        self.addr = out.stdout.strip().rsplit("=", 1)[1]
        subprocess.run([str(LAUNCHER), "create-topic", TOPIC, "--queues", "8"],
                       capture_output=True, check=True)
        return self

    def __exit__(self, *exc) -> None:
        if self.started:
            subprocess.run([str(LAUNCHER), "down"], capture_output=True)


class Ceiling:
    """The in-process broker that acknowledges at once (bench/harness ceiling-broker)."""

    def __init__(self) -> None:
        self.proc: Optional[subprocess.Popen] = None
        self.addr = ""

    def __enter__(self) -> "Ceiling":
        binary = TARGET / "release" / "ceiling-broker"
        self.proc = subprocess.Popen([str(binary), "--port", "0"], stdout=subprocess.PIPE,
                                     text=True)
        line = self.proc.stdout.readline().strip()
        if not line.startswith("NAMESRV_ADDR="):
            raise RuntimeError(f"ceiling-broker did not start: {line!r}")
        self.addr = line.split("=", 1)[1]
        return self

    def __exit__(self, *exc) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait()


# ---------------------------------------------------------------------------------------------
# Running one client process


def high_water_kb(pid: int) -> int:
    """The process's peak resident set so far (VmHWM). wait4's ru_maxrss would not do: it
    includes this driver's own RSS, inherited by the child between fork and exec."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run_client(client: Client, case: Case, addr: str, count: int, warmup: int) -> dict:
    """Runs one process to completion; its JSON line plus the driver's wait4 measurements."""
    logs = CACHE / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = logs / f"{client.name}.out", logs / f"{client.name}.err"
    cmd = client.command + ["--namesrv", addr, "--topic", TOPIC, "--warmup", str(warmup),
                            "--body-file", str(body_file(case.body))] + case.args(count)
    env = {**os.environ, **client.env, "NAMESRV_ADDR": addr}
    began = time.monotonic()
    with open(stdout_path, "wb") as out, open(stderr_path, "wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, start_new_session=True)
    status, usage, timed_out, peak_kb = None, None, False, 0
    while status is None:
        peak_kb = max(peak_kb, high_water_kb(proc.pid))
        pid, wait_status, rusage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            status, usage = wait_status, rusage
            break
        if time.monotonic() - began > RUN_TIMEOUT_S and not timed_out:
            timed_out = True
            os.killpg(proc.pid, signal.SIGKILL)
        time.sleep(0.02)
    proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.monotonic() - began
    measured = {
        "wall_s": round(wall, 3),
        "proc_cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "exit": proc.returncode,
    }
    lines = [l for l in stdout_path.read_text(errors="replace").splitlines() if l.startswith("{")]
    if timed_out or proc.returncode != 0 or not lines:
        tail = stderr_path.read_text(errors="replace").strip().splitlines()[-3:]
        reason = "timed out" if timed_out else f"exit {proc.returncode}"
        return {**measured, "failed": f"{reason}: {' | '.join(tail)[:400]}"}
    return {**json.loads(lines[-1]), **measured}


def warm_up(target_name: str, addr: str, runnable: list[Client], warmup: int) -> None:
    """A fresh broker is slow at first (JIT, page cache): one untimed run of the first client
    (5,000 sync sends) keeps that cost out of the first client's first measured run."""
    if not runnable:
        return
    run = run_client(runnable[0], CASES[0], addr, 5000, warmup)
    print(f"bench: {target_name} warmed up with {runnable[0].name}: "
          + (run.get("failed") or f"{run['msgs_per_s']:.0f} msg/s"), file=sys.stderr)


# ---------------------------------------------------------------------------------------------
# Aggregation


METRICS = ["msgs_per_s", "p50_ms", "p99_ms", "p999_ms", "cpu_per_100k_s", "peak_rss_mb",
           "proc_cpu_s"]


def median_row(runs: list[dict]) -> dict:
    good = [r for r in runs if "failed" not in r]
    row = {"runs": len(runs), "good_runs": len(good),
           "errors": sum(r.get("errors", 0) for r in good),
           "failed": [r["failed"] for r in runs if "failed" in r][:1]}
    for r in good:
        r["cpu_per_100k_s"] = r["cpu_s"] / max(r["count"], 1) * 1e5
    for metric in METRICS:
        values = [r[metric] for r in good if r.get(metric) is not None]
        row[metric] = statistics.median(values) if values else None
    firsts = [r["first_error"] for r in good if r.get("first_error")]
    row["first_error"] = firsts[0] if firsts else None
    return row


def best_peer(rows: dict[str, dict], peers: list[str], metric: str, pick: Callable) -> tuple:
    candidates = [(rows[p][metric], p) for p in peers
                  if p in rows and rows[p].get(metric) is not None and rows[p].get("good_runs")]
    return pick(candidates) if candidates else (None, None)


# ---------------------------------------------------------------------------------------------
# Report


def fmt(value, digits=1) -> str:
    if value is None:
        return "–"
    if isinstance(value, float) and value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def ratio(ours, peer) -> Optional[float]:
    return ours / peer if ours is not None and peer else None


def machine_info() -> dict:
    def first_line(cmd: list[str]) -> str:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError, subprocess.TimeoutExpired):
            return "not available"

    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "kernel": platform.platform(),
        "cpu": f"{model}, {os.cpu_count()} logical CPUs",
        "memory_gib": round(mem_kb / 1024 / 1024, 1),
        "rustc": first_line(["rustc", "-V"]),
        "java": first_line(["java", "-version"]),
        "gcc": first_line(["gcc", "--version"]),
        "python": platform.python_version(),
        "node": first_line(["node", "--version"]),
        "broker": "Apache RocketMQ 5.3.3 (tests/cluster/rmq-cluster: 1 NameServer, 2 masters)",
    }


def write_report(out: Path, results: dict, all_clients: list[Client]) -> None:
    peers = [c.name for c in all_clients if not c.ours]
    ours = [c.name for c in all_clients if c.ours]
    labels = {c.name: c.label for c in all_clients}
    meta = results["meta"]
    lines = [
        "# Producer benchmark results",
        "",
        f"Run {meta['started']} → {meta['finished']} UTC by `make bench` "
        f"({meta['repeat']} runs per client and case, clients alternated; medians shown).",
        f"Load average before / after: {meta['load_before']} / {meta['load_after']}.",
        "",
        "Machine: " + "; ".join(f"{k}: {v}" for k, v in meta["machine"].items()) + ".",
        "",
        "Columns: see bench/README.md. CPU = user + system seconds of the client process inside "
        "the measured window, per 100k messages; RSS = the process's peak resident set.",
        "",
    ]
    # Summary: ours (Rust) against the best peer per case.
    lines += ["## Summary: ours against the best peer", "",
              "Targets: throughput ≥ 1.5× (async, oneway), CPU per message ≤ 0.5×, sync p99 ≤ 1.0×.",
              ""]
    lines += ["| case | target | ours | msgs/s (best peer) | ratio | CPU s/100k (best peer) | ratio "
              "| p99 ms (best peer) | ratio |", "|---|---|---|---|---|---|---|---|---|"]
    for case in CASES:
        for target in ("cluster", "ceiling"):
            rows = results["medians"].get(target, {}).get(case.slug, {})
            tp, tp_peer = best_peer(rows, peers, "msgs_per_s", max)
            cpu, cpu_peer = best_peer(rows, peers, "cpu_per_100k_s", min)
            p99, p99_peer = best_peer(rows, peers, "p99_ms", min)
            for name in ours:
                row = rows.get(name)
                if not row or not row.get("good_runs"):
                    continue
                lines.append(
                    f"| {case.number} {case.slug} | {target} | {name} "
                    f"| {fmt(row['msgs_per_s'])} ({fmt(tp)} {tp_peer or ''}) "
                    f"| {fmt(ratio(row['msgs_per_s'], tp), 2)} "
                    f"| {fmt(row['cpu_per_100k_s'], 2)} ({fmt(cpu, 2)} {cpu_peer or ''}) "
                    f"| {fmt(ratio(row['cpu_per_100k_s'], cpu), 2)} "
                    f"| {fmt(row['p99_ms'], 3)} ({fmt(p99, 3)} {p99_peer or ''}) "
                    f"| {fmt(ratio(row['p99_ms'], p99), 2)} |")
    lines.append("")
    for case in CASES:
        lines += [f"## Case {case.number}: {case.title}", "",
                  f"![case {case.number}]({case.number}-{case.slug}.png)", ""]
        for target in ("cluster", "ceiling"):
            rows = results["medians"].get(target, {}).get(case.slug)
            if rows is None:
                continue
            lines += [f"### {target}", "",
                      "| client | msgs/s | p50 ms | p99 ms | p99.9 ms | CPU s/100k | peak RSS MB "
                      "| errors | runs |", "|---|---|---|---|---|---|---|---|---|"]
            for client in all_clients:
                row = rows.get(client.name)
                if row is None:
                    continue
                if "missing" in row:
                    lines.append(f"| {labels[client.name]} | {row['missing']} |||||||")
                    continue
                if not row.get("good_runs"):
                    lines.append(f"| {labels[client.name]} | failed: {row['failed'][0]} |||||||")
                    continue
                lines.append(
                    f"| {labels[client.name]} | {fmt(row['msgs_per_s'])} | {fmt(row['p50_ms'], 3)} "
                    f"| {fmt(row['p99_ms'], 3)} | {fmt(row['p999_ms'], 3)} "
                    f"| {fmt(row['cpu_per_100k_s'], 2)} | {fmt(row['peak_rss_mb'])} "
                    f"| {row['errors']} | {row['good_runs']}/{row['runs']} |")
            lines.append("")
            for client in all_clients:
                row = rows.get(client.name) or {}
                if row.get("errors"):
                    lines.append(f"- {labels[client.name]}: {row['errors']} failed sends over "
                                 f"{row['good_runs']} runs; first: `{row['first_error']}`")
            lines.append("")
    versions = results.get("versions", {})
    lines += ["## Client versions", ""] + [f"- {labels.get(k, k)}: {v}" for k, v in versions.items()]
    lines.append("")
    (out / "results.md").write_text("\n".join(lines))


def write_charts(out: Path, results: dict, all_clients: list[Client]) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("bench: matplotlib is not installed; no charts", file=sys.stderr)
        return
    names = [c.name for c in all_clients]
    colors = {c.name: ("#1f77b4" if c.ours else "#ff7f0e") for c in all_clients}
    for case in CASES:
        panels = [("msgs_per_s", "messages / s (higher is better)"),
                  ("cpu_per_100k_s", "client CPU s per 100k msgs (lower is better)"),
                  ("p99_ms", "p99 latency ms (lower is better)"),
                  ("peak_rss_mb", "peak RSS MB (lower is better)")]
        fig, axes = plt.subplots(2, 4, figsize=(19, 7.5))
        for row_index, target in enumerate(("cluster", "ceiling")):
            rows = results["medians"].get(target, {}).get(case.slug, {})
            shown = [n for n in names if n in rows and rows[n].get("good_runs")]
            for col, (metric, title) in enumerate(panels):
                ax = axes[row_index][col]
                values = [rows[n][metric] or 0 for n in shown]
                ax.bar(range(len(shown)), values, color=[colors[n] for n in shown])
                ax.set_xticks(range(len(shown)))
                ax.set_xticklabels(shown, rotation=30, ha="right", fontsize=8)
                ax.set_title(f"{target}: {title}", fontsize=9)
                for x, v in enumerate(values):
                    ax.annotate(fmt(v, 2 if v < 100 else 0), (x, v), ha="center", va="bottom",
                                fontsize=7)
        fig.suptitle(f"Case {case.number}: {case.title} (blue: ours, orange: peers; medians)")
        fig.tight_layout()
        fig.savefig(out / f"{case.number}-{case.slug}.png", dpi=80)
        plt.close(fig)


# ---------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs per client and case (3)")
    parser.add_argument("--scale", type=float, default=1.0,
                        help="multiply every case's message count (0.05 for a smoke run)")
    parser.add_argument("--warmup", type=int, default=500,
                        help="sync sends before each measured window (500)")
    parser.add_argument("--cases", default="1,2,3,4,5,6", help="case numbers, comma-separated")
    parser.add_argument("--clients", default="", help="client names, comma-separated (all)")
    parser.add_argument("--targets", default="cluster,ceiling", help="cluster and/or ceiling")
    parser.add_argument("--out", default=str(REPO / "bench" / "results"))
    parser.add_argument("--report-only", action="store_true",
                        help="rewrite results.md and the charts from the out folder's results.json")
    opts = parser.parse_args()

    all_clients = clients()
    wanted = set(filter(None, opts.clients.split(",")))
    selected = [c for c in all_clients if not wanted or c.name in wanted]
    if opts.report_only:
        out = Path(opts.out)
        results = json.loads((out / "results.json").read_text())
        present = {name for target in results["medians"].values() for case in target.values()
                   for name in case}
        selected = [c for c in all_clients if c.name in present]
        write_report(out, results, selected)
        write_charts(out, results, selected)
        return 0
    cases = [c for c in CASES if str(c.number) in opts.cases.split(",")]
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    for client in selected:
        if client.missing:
            print(f"bench: skipping {client.name}: {client.missing}", file=sys.stderr)

    results = {"meta": {"started": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
                        "load_before": " ".join(Path("/proc/loadavg").read_text().split()[:3]),
                        "repeat": opts.repeat, "scale": opts.scale, "warmup": opts.warmup,
                        "counts": {c.slug: max(1, int(c.count * opts.scale)) for c in cases},
                        "machine": machine_info()},
               "runs": [], "medians": {}, "versions": {}}
    targets = {"cluster": Cluster, "ceiling": Ceiling}
    for target_name in opts.targets.split(","):
        with targets[target_name]() as target:
            print(f"bench: {target_name} at {target.addr}", file=sys.stderr)
            medians = results["medians"].setdefault(target_name, {})
            warm_up(target_name, target.addr, [c for c in selected if not c.missing], opts.warmup)
            for case in cases:
                count = max(1, int(case.count * opts.scale))
                runnable = [c for c in selected
                            if not c.missing and (c.auto_batch or not case.auto_batch)]
                runs: dict[str, list[dict]] = {c.name: [] for c in runnable}
                for rep in range(opts.repeat):
                    # Alternate: each repetition starts with a different client.
                    shift = rep % max(len(runnable), 1)
                    for client in runnable[shift:] + runnable[:shift]:
                        run = run_client(client, case, target.addr, count, opts.warmup)
                        run.update(client=client.name, target=target_name, case=case.slug, rep=rep)
                        results["runs"].append(run)
                        runs[client.name].append(run)
                        if "version" in run:
                            results["versions"][client.name] = run["version"]
                        print(f"bench: {target_name} case {case.number} {client.name} rep {rep}: "
                              + (run.get("failed") or
                                 f"{run['msgs_per_s']:.0f} msg/s p99 {run['p99_ms']} ms "
                                 f"cpu {run['cpu_s']} s errors {run['errors']}"),
                              file=sys.stderr)
                        time.sleep(0.1)
                medians[case.slug] = {name: median_row(r) for name, r in runs.items()}
                for client in selected:
                    if client.missing:
                        medians[case.slug][client.name] = {"missing": client.missing}
                    elif case.auto_batch and not client.auto_batch:
                        medians[case.slug][client.name] = {"missing": "no auto-batching"}
    results["meta"]["finished"] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    results["meta"]["load_after"] = " ".join(Path("/proc/loadavg").read_text().split()[:3])
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    write_report(out, results, selected)
    write_charts(out, results, selected)
    print(f"bench: wrote {out / 'results.md'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
