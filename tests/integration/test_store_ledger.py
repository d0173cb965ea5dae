"""The execution log and the fault windows in the store, and the ledger of a stored run recomputed from the raw
files independently (csv module, no pandas, no analysis code)."""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from pathlib import Path

import pytest

from core.logs import REQUEST_COLUMNS, execution_log_writer, request_log_writer
from results import analyse_stored_run, stored_fault_windows
from store import BadLogFile, InvalidRecord, RunStore

T0 = 1_764_212_345.0


@pytest.fixture
def store(tmp_path: Path):
    with RunStore.open(tmp_path / "store") as s:
        yield s


def _write_logs(tmp: Path) -> tuple[Path, Path]:
    """60 s of one request every 0.1 s; from T0 to T0 + 5 requests fail; a few tasks are run twice, a few time
    out after running, one session loses an acknowledged write. Written by core.logs' own writers."""
    req_path, ex_path = tmp / "requests.csv", tmp / "executions.csv"
    req, ex = request_log_writer(req_path), execution_log_writer(ex_path)
    rows, runs = [], []
    for i in range(600):
        ts = T0 - 30 + 0.1 * i
        task, session = f"s{i % 20}.{i}", f"s{i % 20}"
        dark = T0 <= ts + 0.05 < T0 + 5
        outcome = "error" if dark and i % 3 else "timeout" if dark else "ok"
        lat = 0.05 if outcome == "ok" else 0.003 if outcome == "error" else 3.0
        session_ok = "" if outcome != "ok" else "0" if i == 470 else "1"
        row = {"ts": f"{ts:.6f}", "end": f"{ts + lat:.6f}", "client_region": "us-east", "session": session,
               "outcome": outcome, "latency_s": f"{lat:.6f}", "agent": "us-east-n1-a1" if outcome == "ok" else "",
               "served_region": "us-east" if outcome == "ok" else "", "session_ok": session_ok, "attempts": 1,
               "task": task}
        rows.append([row.get(c, "") for c in REQUEST_COLUMNS])
        executions = 1 if outcome == "ok" else 1 if outcome == "timeout" and i % 2 else 0
        if i in (100, 200, 300):
            executions = 2
        for k in range(executions):
            runs.append([task, f"us-east-n1-a{k + 1}", "us-east-n1", "us-east", f"{ts:.6f}", f"{ts + 0.04:.6f}",
                         session, 1, "0.000000"])
    req.write_rows(rows)
    ex.write_rows(runs)
    req.close()
    ex.close()
    return req_path, ex_path


def _independent_ledger(req_gz: Path, ex_gz: Path) -> Counter:
    with gzip.open(req_gz, "rt", newline="") as fh:
        requests = list(csv.DictReader(fh))
    with gzip.open(ex_gz, "rt", newline="") as fh:
        executed = Counter(row["task"] for row in csv.DictReader(fh))
    counts: Counter = Counter()
    for row in requests:
        n, outcome = executed[row["task"]], row["outcome"]
        if n >= 2:
            counts["duplicated"] += 1
        elif outcome == "ok":
            counts["ok" if n == 1 else "phantom"] += 1
        elif outcome == "error":
            counts["failed" if n == 0 else "unacknowledged"] += 1
        else:
            counts["indeterminate"] += 1
    counts["tasks"] = len(requests)
    counts["executions"] = sum(executed.values())
    return counts


def test_execution_log_attached_beside_the_store_and_the_ledger_adds_up(store: RunStore, tmp_path: Path) -> None:
    run = store.create_run(experiment="region-loss-home", topology="centralized",
                           settings={"topology": {"kind": "centralized", "workload": {"timeout_s": 3.0}}})
    store.update_run(run, injected_at=T0, meta={"analysis_window_s": 30.0})
    req_path, ex_path = _write_logs(tmp_path)
    store.attach_request_log(run, req_path, tmp_path / "runs")
    assert store.execution_log_path(run) is None and store.load_executions(run) is None
    kept = store.attach_execution_log(run, ex_path, tmp_path / "runs")
    assert kept == tmp_path / "runs" / run / "executions.csv.gz" and store.execution_log_path(run) == kept
    assert store.get_run(run)["meta"]["execution_log"]["rows"] == len(ex_path.read_text().splitlines()) - 1
    frame = store.load_executions(run)
    assert list(frame.columns) == ["task", "agent", "node", "region", "start", "end", "session", "session_write",
                                   "queued_s"]
    assert str(frame["session_write"].dtype) == "Int8"

    store.put_fault_windows(run, [{"name": "kill-us-east", "action": "kill_region", "family": "region",
                                   "start": T0, "end": T0 + 4.0, "lifted_by": "restore", "targets": ["us-east"],
                                   "what": "us-east was dark", "lift_phrase": "the restore began"}])
    m = analyse_stored_run(store, run)
    expected = _independent_ledger(store.request_log_path(run), kept)
    ledger = m.ledger
    assert ledger["tasks"] == expected["tasks"] == 600
    assert ledger["executions"] == expected["executions"]
    for cls in ("ok", "duplicated", "failed", "indeterminate", "unacknowledged", "phantom"):
        assert ledger["classes"][cls] == expected[cls], cls
    assert sum(ledger["classes"].values()) == ledger["tasks"]
    assert ledger["lost_writes"] == 1 and ledger["lost_writes_outside_fault"] == 1  # read at +17 s: no fault
    # the last request sent into the dark (at +4.85 s) times out 3 s later: back 3.8 s after the lift at +4 s
    assert m.metrics["recovery"] == "recovered_after_lift" and m.metrics["ttr_after_lift_s"] == pytest.approx(
        3.8, abs=0.1)


def test_bad_execution_logs_are_refused_and_nothing_is_kept(store: RunStore, tmp_path: Path) -> None:
    run = store.create_run(experiment="e", topology="t")
    bad = tmp_path / "executions.csv"
    bad.write_text("task,agent\nt1,a1\n")
    with pytest.raises(BadLogFile, match="lacks the columns node"):
        store.attach_execution_log(run, bad, tmp_path / "runs")
    with pytest.raises(BadLogFile, match="does not exist"):
        store.attach_execution_log(run, tmp_path / "nope.csv", tmp_path / "runs")
    assert store.execution_log_path(run) is None and not (tmp_path / "runs" / run).exists()
    with pytest.raises(InvalidRecord, match="fault window 0"):
        store.put_fault_windows(run, [{"name": "x"}])


def test_windows_of_an_older_run_come_from_its_timeline_and_the_dead_man_ends_them(store: RunStore) -> None:
    run = store.create_run(experiment="e", topology="t")
    assert stored_fault_windows(store, run) is None  # nothing recorded: unattributable, not invented
    store.put_timeline(run, [
        {"name": "kill-us-east", "type": "action", "start": T0, "end": T0 + 0.1, "status": "succeeded",
         "detail": {"phase": "method", "func": "chaos.actions.kill_region", "arguments": {"region": "us-east"}}},
        {"name": "restore", "type": "rollback", "start": T0 + 20, "end": T0 + 21, "status": "succeeded",
         "detail": {"phase": "rollback", "func": "chaos.actions.restore_region"}},
    ])
    (w,) = stored_fault_windows(store, run)
    assert (w.start, w.end, w.what) == (T0, T0 + 20, "us-east was dark")
    store.append_events(run, [{"ts": T0 + 8.0, "kind": "deadman_healed", "detail": {"reason": "lease"}}])
    (w,) = stored_fault_windows(store, run, store.load_events(run))
    assert (w.end, w.lifted_by, w.lift_phrase) == (T0 + 8.0, "deadman_healed", "the dead-man healed the lab")
