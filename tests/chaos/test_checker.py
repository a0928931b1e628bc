"""The chaos checker on small made-up histories: it must flag what a user would call a bug, and
accept what the broker may legitimately do (a retry's duplicate, a re-checked commit)."""

import json
import subprocess
import time

import pytest

import chaos


def run_check(tmp_path, history, stored, exits=None):
    with open(tmp_path / "history-rust.jsonl", "w") as f:
        f.writelines(json.dumps(e) + "\n" for e in [{"ev": "start", "t": 0}, *history,
                                                    {"ev": "end", "t": 99_000, "outstanding": 0}])
    stored_lines = [{"keys": msg_id, "msgId": uniq} for msg_id, uniq in stored]
    return chaos.check(tmp_path, ["rust"], stored_lines, [], [], {}, exits or {"rust": 0}, 30)["violations"]


def call(n, op, ids, **extra):
    return {"ev": "call", "t": 1000 + n, "call": n, "op": op, "ids": ids, **extra}


def answer(n, ok=True, **fields):
    return {"ev": "answer", "t": 2000 + n, "call": n, "ok": ok, **fields}


def attempt(uniq, n, ok):
    return {"ev": "attempt", "t": 1500, "uniq": uniq, "n": n, "ok": ok, **({} if ok else {"kind": "TIMEOUT"})}


def test_a_clean_history_passes(tmp_path):
    history = [call(1, "sync", ["rust-sync-1"]), attempt("U1", 0, True), answer(1, status="SEND_OK", uniq="U1")]
    assert run_check(tmp_path, history, [("rust-sync-1", "U1")]) == []


def test_an_acknowledged_message_missing_from_the_store_is_lost(tmp_path):
    history = [call(1, "async", ["rust-async-1"]), answer(1, status="SEND_OK", uniq="U1")]
    assert run_check(tmp_path, history, []) == ["rust: acknowledged rust-async-1 is not stored"]


@pytest.mark.parametrize("answers,words", [(0, "never answered"), (2, "answered 2 times")])
def test_a_call_must_be_answered_exactly_once(tmp_path, answers, words):
    history = [call(1, "async", ["rust-async-1"])] + [answer(1, status="SEND_OK", uniq="U1")] * answers
    violations = run_check(tmp_path, history, [("rust-async-1", "U1")])
    assert len(violations) == 1 and words in violations[0]


def test_a_duplicate_after_a_failed_attempt_is_explained_and_one_without_is_not(tmp_path):
    retried = [call(1, "sync", ["rust-sync-1"]), attempt("U1", 0, False), attempt("U1", 1, True),
               answer(1, status="SEND_OK", uniq="U1")]
    stored = [("rust-sync-1", "U1"), ("rust-sync-1", "U1")]
    assert run_check(tmp_path, retried, stored) == []
    once = [call(1, "sync", ["rust-sync-1"]), attempt("U1", 0, True), answer(1, status="SEND_OK", uniq="U1")]
    assert "duplicate not explained" in run_check(tmp_path, once, stored)[0]


def test_a_rolled_back_transaction_must_never_be_visible(tmp_path):
    history = [call(1, "tx", ["rust-tx-1"], local="rollback"), answer(1, status="SEND_OK", uniq="U1")]
    assert "is visible" in run_check(tmp_path, history, [("rust-tx-1", "U1")])[0]
    assert run_check(tmp_path, history, []) == []


def test_each_commit_answered_to_a_check_explains_one_copy_of_a_transaction(tmp_path):
    history = [call(1, "tx", ["rust-tx-3"], local="commit"), answer(1, status="SEND_OK", uniq="U3"),
               {"ev": "check", "t": 5000, "uniq": "U3", "id": "rust-tx-3", "answer": "commit"}]
    assert run_check(tmp_path, history, [("rust-tx-3", "U3")] * 2) == []
    assert "duplicate not explained" in run_check(tmp_path, history, [("rust-tx-3", "U3")] * 3)[0]


def test_a_stored_message_no_driver_sent_is_flagged(tmp_path):
    assert "never sent by a driver" in run_check(tmp_path, [], [("rust-sync-9", "U9")])[0]


def test_a_driver_that_crashed_is_flagged(tmp_path):
    assert run_check(tmp_path, [], [], exits={"rust": -11}) == ["rust: the driver exited with -11"]


class FakeCluster:
    """Every launcher command succeeds at once."""

    topology = "master-slave"

    def run(self, *args, **kwargs):
        return subprocess.CompletedProcess(args, 0, stdout="{}", stderr="")

    def addr_of(self, name):
        return "127.0.0.1:1", None


def test_the_nemesis_keeps_faults_on_a_server_apart_two_at_most_and_lone_faults_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(chaos, "SOLO_QUIET_S", 0.3)
    schedule = [(0.0, "pause", "broker-a", 0.4), (0.05, "kill", "broker-b", 0.4), (0.1, "drain", "broker-a", 0.2),
                (0.1, "partition", "namesrv", 0.2), (0.15, "kill", "broker-a-s", 0.2), (0.2, "pause", "broker-b-s", 0.2)]
    t0 = time.time()
    nemesis = chaos.Nemesis(FakeCluster(), tmp_path / "nemesis.jsonl", t0)
    nemesis.run(schedule, solo={4}, stop_at=t0 + 60)
    faults = chaos.faults_injected(chaos.read_jsonl(tmp_path / "nemesis.jsonl"), t0)
    assert len(faults) == len(schedule)
    for begin, _, target, end, alone in faults:
        others = [(b, e) for b, _, t, e, _ in faults if (b, t) != (begin, target)]
        overlapping = [(b, e) for b, e in others if b < end and e > begin]
        assert all(e <= begin or b >= end for b, _, t, e, _ in faults if t == target and b != begin)
        if alone:
            assert not overlapping
            assert all(b >= end + 0.3 for b, e in others if b >= end)
    at_most = max(sum(1 for b, _, _, e, _ in faults if b <= t < e) for t, *_ in faults)
    assert at_most <= 2


def test_a_drain_of_a_broker_without_address_is_a_failed_step_not_a_fault(tmp_path):
    class Unreachable(FakeCluster):
        def addr_of(self, name):
            return None, f"rmq-cluster: error: {name} is not running"

    t0 = time.time()
    nemesis = chaos.Nemesis(Unreachable(), tmp_path / "nemesis.jsonl", t0)
    nemesis.run([(0.0, "drain", "broker-a", 0.1)], solo=set(), stop_at=t0 + 60)
    events = chaos.read_jsonl(tmp_path / "nemesis.jsonl")
    assert [(e["action"], e["ok"]) for e in events if e["ev"] == "nemesis"] == [("drain", False)]
    assert [e["phase"] for e in events if e["ev"] == "fault"] == ["begin", "end"]
    assert chaos.faults_injected(events, t0) == [], "a drain never made holds no heal up"
