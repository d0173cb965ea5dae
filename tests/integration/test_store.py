"""Run store round trips, concurrency, migration, errors and size (no timing asserts: see bench/)."""

from __future__ import annotations

import csv
import json
import math
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import StoreError, UserError
from store import (
    DB_NAME,
    SCHEMA_VERSION,
    BadLogFile,
    ComparisonNotFound,
    InvalidRecord,
    NoRequestLog,
    RunNotFound,
    RunStore,
    StoreCorrupt,
    StoreMissing,
    StoreReadOnly,
)
from store.schema import migrate, user_version

REPO = Path(__file__).resolve().parents[2]
T0 = 1_764_212_345.0


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "store"


@pytest.fixture
def store(store_dir: Path):
    s = RunStore.open(store_dir)
    try:
        yield s
    finally:
        s.close()


def _samples(n: int, *, metric: str = "aftershock_tasks_total", labels: dict | None = None, step: float = 1.0):
    labels = labels if labels is not None else {"node": "us-east-n1", "outcome": "ok"}
    return [(T0 + i * step, metric, labels, float(i * 3)) for i in range(n)]


def test_samples_round_trip_long_format(store: RunStore) -> None:
    run = store.create_run(experiment="kill-node", topology="centralized", settings={"seed": 1})
    store.append_samples(run, _samples(100))
    store.append_samples(run, _samples(50, metric="aftershock_agents_alive", labels={"node": "n2", "region": "eu"}))
    store.append_samples(run, [(T0, "up", {}, 1.0)])
    store.flush()
    frame = store.load_series(run)
    assert list(frame.columns[:3]) == ["ts", "metric", "value"]
    assert set(frame.columns[3:]) == {"node", "outcome", "region"}
    assert len(frame) == 151
    tasks = frame[frame.metric == "aftershock_tasks_total"]
    assert tasks["ts"].tolist() == [T0 + i for i in range(100)]
    assert tasks["value"].tolist() == [float(i * 3) for i in range(100)]
    assert set(tasks["outcome"]) == {"ok"}
    alive = frame[frame.metric == "aftershock_agents_alive"]
    assert alive["outcome"].isna().all() and set(alive["region"]) == {"eu"}
    assert store.list_metrics(run) == ["aftershock_agents_alive", "aftershock_tasks_total", "up"]
    only = store.load_series(run, ["up"])
    assert len(only) == 1 and list(only.columns) == ["ts", "metric", "value"]
    window = store.load_series(run, ["aftershock_tasks_total"], start=T0 + 10, end=T0 + 19)
    assert window["ts"].tolist() == [T0 + i for i in range(10, 20)]


def test_many_flushes_merge_chunks_and_keep_order(store_dir: Path) -> None:
    with RunStore.open(store_dir, max_chunk=64) as store:
        run = store.create_run(experiment="e", topology="t")
        rng = np.random.default_rng(3)
        ts = T0 + np.arange(1000) + rng.integers(0, 3, 1000) / 1000
        values = np.cumsum(rng.poisson(5, 1000)).astype(float)
        for start in range(0, 1000, 7):
            store.append_samples(
                run,
                [
                    (t, "c", {"k": "v"}, v)
                    for t, v in zip(ts[start : start + 7], values[start : start + 7], strict=True)
                ],
            )
            store.flush()
        stats = store.run_stats(run)
        assert stats["samples"] == 1000
        assert stats["chunks"] < 1000 / 7 / 4  # merged, not one chunk per flush
        frame = store.load_series(run)
        np.testing.assert_array_equal(frame["value"].to_numpy(), values)
        np.testing.assert_allclose(frame["ts"].to_numpy(), np.round(ts * 1000) / 1000, rtol=0, atol=1e-9)
        assert store.integrity_check() == []


def test_out_of_order_samples_come_back_sorted(store: RunStore) -> None:
    run = store.create_run(experiment="e", topology="t")
    store.append_samples(run, [(T0 + 5, "m", {}, 5.0), (T0 + 1, "m", {}, 1.0)])
    store.flush()
    store.append_samples(run, [(T0 + 3, "m", {}, 3.0)])
    frame = store.load_series(run)  # the writer reads its own buffered writes
    assert frame["value"].tolist() == [1.0, 3.0, 5.0]


def test_special_values_survive(store: RunStore) -> None:
    run = store.create_run(experiment="e", topology="t")
    values = [math.nan, math.inf, -math.inf, -0.0, 1e308, 5e-324, 0.1]
    store.append_samples(run, [(T0 + i, "m", {}, v) for i, v in enumerate(values)])
    got = store.load_series(run)["value"].to_numpy()
    assert got.view(np.uint64).tolist() == np.array(values).view(np.uint64).tolist()


def test_runs_and_comparisons(store: RunStore) -> None:
    cid = store.create_comparison("kill-node", kind="sweep", title="nightly", meta={"intensity": [0, 1, 2]})
    assert cid.startswith("c-")
    runs = [
        store.create_run(experiment="kill-node", topology=topo, repeat=rep, comparison_id=cid)
        for topo in ("centralized", "decentralized")
        for rep in range(2)
    ]
    assert all(r.startswith("r-") for r in runs) and len(set(runs)) == 4
    other = store.create_run(experiment="partition", topology="hybrid")
    store.update_run(runs[0], injected_at=T0 + 30, meta={"a": 1})
    store.set_run_meta(runs[0], b=2)
    store.finish_run(runs[0], "completed", summary={"ttr_s": 12.5})
    run = store.get_run(runs[0])
    assert run["status"] == "completed" and run["ended_at"] is not None
    assert run["injected_at"] == T0 + 30 and run["meta"] == {"a": 1, "b": 2}
    assert run["summary"] == {"ttr_s": 12.5} and run["writer_pid"] > 0
    listed = store.list_runs()
    assert set(listed["run_id"]) == {*runs, other}
    assert listed["started_at"].is_monotonic_decreasing
    assert set(store.list_runs(topology="decentralized")["run_id"]) == set(runs[2:])
    assert store.list_runs(status="completed")["run_id"].tolist() == [runs[0]]
    assert store.list_runs(comparison_id=cid)["run_id"].nunique() == 4
    comparison = store.get_comparison(cid)
    assert comparison["kind"] == "sweep" and comparison["meta"] == {"intensity": [0, 1, 2]}
    assert [r["run_id"] for r in comparison["runs"]] == runs
    table = store.list_comparisons()
    assert table.loc[0, "runs"] == 4 and table.loc[0, "title"] == "nightly"
    assert store.list_comparisons(kind="comparison").empty


def test_finish_run_rejects_unknown_status(store: RunStore) -> None:
    run = store.create_run(experiment="e", topology="t")
    with pytest.raises(InvalidRecord, match="final status"):
        store.finish_run(run, "done")


def test_events_journal_timeline_machine_load(store: RunStore, tmp_path: Path) -> None:
    run = store.create_run(experiment="e", topology="decentralized")
    store.append_events(run, [{"ts": T0 + 2, "kind": "node_killed", "node": "n1", "region": "us", "detail": {}}])
    log = tmp_path / "events.jsonl"
    lines = [
        json.dumps({"ts": T0 + 1, "kind": "lab_started", "node": None, "region": None, "agent": None, "by": None}),
        "{not json",
        json.dumps({"ts": T0 + 3, "kind": "member_dead", "node": "n1", "region": "us", "by": "n2", "detail": {"x": 1}}),
        json.dumps({"kind": "no_ts"}),
        "",
        json.dumps([1, 2]),
    ]
    log.write_text("\n".join(lines) + "\n")
    result = store.attach_event_log(run, log, runs_dir=tmp_path / "runs")
    assert (result.stored, result.skipped) == (2, 3)
    assert store.attach_event_log(run, log) == (2, 3)  # idempotent: replaces the log's events
    events = store.load_events(run)
    assert events["kind"].tolist() == ["lab_started", "node_killed", "member_dead"]
    assert events.loc[2, "by"] == "n2" and events.loc[2, "detail"] == {"x": 1}
    assert store.get_run(run)["meta"]["event_log"]["skipped"] == 3
    with pytest.raises(InvalidRecord):
        store.append_events(run, [{"kind": "x"}])

    journal = {"status": "completed", "run": [{"activity": {"name": "kill"}, "output": None}] * 50}
    assert store.get_journal(run) is None
    store.put_journal(run, journal)
    assert store.get_journal(run) == journal

    activities = [
        {"name": "steady", "type": "hypothesis", "start": T0, "end": T0 + 1, "status": "succeeded", "detail": {}},
        {"name": "kill-node", "type": "action", "start": T0 + 30, "end": T0 + 30.2, "status": "succeeded"},
    ]
    store.put_timeline(run, activities)
    got = store.load_timeline(run)
    assert [a["name"] for a in got] == ["steady", "kill-node"] and got[1]["detail"] == {}
    assert got[0]["end"] == T0 + 1
    with pytest.raises(InvalidRecord, match="type"):
        store.put_timeline(run, [{"name": "x", "type": "method"}])

    store.put_machine_load(run, [(T0, 12.5), (T0 + 1, 80.0)])
    load = store.load_machine_load(run)
    assert load["cpu"].tolist() == [12.5, 80.0]


def _write_request_log(path: Path, rows: int = 400) -> None:
    header = ["ts", "end", "client_region", "session", "outcome", "latency_s", "agent", "served_region",
              "session_ok", "attempts"]  # fmt: skip
    rng = np.random.default_rng(7)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for i in range(rows):
            ts = T0 + i * 0.05
            outcome = ["ok", "error", "timeout"][i % 7 % 3] if i % 7 in (3, 5) else "ok"
            lat = float(rng.uniform(0.01, 0.2))
            ok = outcome == "ok"
            served = ("a1", "us", "1") if ok else ("", "", "")
            region = ["us", "eu"][i % 2]
            writer.writerow(
                [f"{ts:.3f}", f"{ts + lat:.3f}", region, f"s{i % 10}", outcome, f"{lat:.4f}", *served, 1 + (not ok)]
            )


def test_request_log_copy_and_aggregates(store: RunStore, tmp_path: Path) -> None:
    run = store.create_run(experiment="e", topology="t")
    assert store.request_log_path(run) is None
    with pytest.raises(NoRequestLog, match=run):
        store.load_requests(run)
    source = tmp_path / "requests.csv"
    _write_request_log(source)
    kept = store.attach_request_log(run, source, tmp_path / "runs")
    assert kept == tmp_path / "runs" / run / "requests.csv.gz" and store.request_log_path(run) == kept
    frame = store.load_requests(run)
    assert len(frame) == 400 and list(frame.columns)[:3] == ["ts", "end", "client_region"]
    assert frame["ts"].dtype == "float64" and str(frame["attempts"].dtype) == "Int64"
    assert frame.loc[frame.outcome != "ok", "agent"].eq("").all()
    assert frame.loc[frame.outcome != "ok", "session_ok"].isna().all()
    agg = store.load_request_aggregates(run)
    assert agg["count"].sum() == 400
    raw = pd.read_csv(source)
    first = raw[(np.floor(raw.ts) == np.floor(T0)) & (raw.client_region == "us") & (raw.outcome == "ok")]
    row = agg[(agg.second == int(T0)) & (agg.client_region == "us") & (agg.outcome == "ok")].iloc[0]
    assert row["count"] == len(first)
    assert row["p50"] == pytest.approx(first.latency_s.quantile(0.5))
    assert row["p99"] == pytest.approx(first.latency_s.quantile(0.99))


def test_request_log_missing_columns(store: RunStore, tmp_path: Path) -> None:
    run = store.create_run(experiment="e", topology="t")
    bad = tmp_path / "bad.csv"
    bad.write_text("ts,outcome\n1,ok\n")
    with pytest.raises(BadLogFile, match="lacks the columns end"):
        store.attach_request_log(run, bad, tmp_path / "runs")
    with pytest.raises(BadLogFile, match="does not exist"):
        store.attach_request_log(run, tmp_path / "nope.csv", tmp_path / "runs")


def test_missing_run_and_comparison_messages(store: RunStore, store_dir: Path) -> None:
    with pytest.raises(RunNotFound) as err:
        store.get_run("r-nope")
    assert str(err.value) == f"no run r-nope in the store at {store_dir}; list runs with `aftershock runs`"
    assert isinstance(err.value, StoreError) and isinstance(err.value, UserError)
    with pytest.raises(RunNotFound):
        store.append_samples("r-nope", [(T0, "m", {}, 1.0)])
    with pytest.raises(ComparisonNotFound, match="c-nope"):
        store.get_comparison("c-nope")
    with pytest.raises(ComparisonNotFound):
        store.create_run(experiment="e", topology="t", comparison_id="c-nope")


@pytest.mark.parametrize(
    "content", [b"this is not a database" * 100, b"\x00" * 50, b"SQLite format 3\x00" + b"\xff" * 200]
)
def test_corrupt_file_is_one_clear_error(store_dir: Path, content: bytes) -> None:
    store_dir.mkdir()
    (store_dir / DB_NAME).write_bytes(content)
    for readonly in (False, True):
        with pytest.raises(StoreCorrupt) as err:
            RunStore.open(store_dir, readonly=readonly)
        assert isinstance(err.value, UserError) and str(store_dir / DB_NAME) in str(err.value)


def test_foreign_sqlite_and_file_as_dir(tmp_path: Path) -> None:
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    with sqlite3.connect(foreign / DB_NAME) as conn:
        conn.execute("CREATE TABLE t(x)")
    with pytest.raises(StoreCorrupt, match="not an Aftershock run store"):
        RunStore.open(foreign)
    a_file = tmp_path / "file"
    a_file.write_text("x")
    with pytest.raises(StoreCorrupt, match="is a file"):
        RunStore.open(a_file)


def test_readonly_store(store_dir: Path) -> None:
    with pytest.raises(StoreMissing, match=str(store_dir)):
        RunStore.open(store_dir, readonly=True)
    with RunStore.open(store_dir) as writer:
        run = writer.create_run(experiment="e", topology="t")
    with RunStore.open(store_dir, readonly=True) as reader:
        assert reader.get_run(run)["status"] == "running"
        with pytest.raises(StoreReadOnly):
            reader.create_run(experiment="e", topology="t")
        with pytest.raises(StoreReadOnly):
            reader.append_samples(run, [(T0, "m", {}, 1.0)])


def test_migrates_a_v1_store(store_dir: Path) -> None:
    store_dir.mkdir()
    conn = sqlite3.connect(store_dir / DB_NAME, isolation_level=None)
    assert migrate(conn, target=1) == 1
    conn.execute("INSERT INTO comparisons(id, experiment, title, created_at) VALUES ('c-old', 'e', '', 1.0)")
    conn.execute(
        "INSERT INTO runs(id, comparison_id, experiment, topology, status, started_at, ended_at) "
        "VALUES ('r-old', 'c-old', 'e', 'centralized', 'completed', 1.0, 2.0)"
    )
    conn.close()
    with RunStore.open(store_dir) as store:
        assert store.get_run("r-old")["status"] == "completed"
        assert store.get_run("r-old")["meta"] == {}
        assert store.get_comparison("c-old")["kind"] == "comparison"
        store.put_journal("r-old", {"status": "completed"})
        assert store.get_journal("r-old") == {"status": "completed"}
        assert store.integrity_check() == []
    conn = sqlite3.connect(store_dir / DB_NAME)
    assert user_version(conn) == SCHEMA_VERSION
    conn.close()


def test_reader_thread_sees_flushed_data(store: RunStore) -> None:
    run = store.create_run(experiment="e", topology="t")
    seen: list[int] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def read() -> None:
        try:
            while not stop.is_set():
                seen.append(len(store.load_series(run)))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(20):
            store.append_samples(run, _samples(10, labels={"i": str(i)}))
            store.flush()
    finally:
        stop.set()
        reader.join(timeout=10)
    assert not errors and seen == sorted(seen)
    assert len(store.load_series(run)) == 200


READER = """
import json, sys
from store import RunStore
with RunStore.open(sys.argv[1], readonly=True) as s:
    run = s.get_run(sys.argv[2])
    print(json.dumps({"status": run["status"], "samples": len(s.load_series(sys.argv[2]))}))
"""


def test_reader_process_sees_flushed_data_while_writer_open(store: RunStore, store_dir: Path) -> None:
    run = store.create_run(experiment="e", topology="t")
    store.append_samples(run, _samples(500))
    store.flush()
    store.append_samples(run, _samples(7, metric="unflushed"))  # still buffered: invisible to others
    out = subprocess.run(
        [sys.executable, "-c", READER, str(store_dir), run], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"status": "running", "samples": 500}


def test_bytes_per_sample_regular_series(store_dir: Path) -> None:
    rng = np.random.default_rng(1)
    with RunStore.open(store_dir) as store:
        run = store.create_run(experiment="e", topology="t")
        ts = T0 + np.arange(3600) + rng.integers(-3, 4, 3600) / 1000
        counter = np.cumsum(rng.poisson(40, 3600)).astype(float)
        gauge = rng.integers(0, 12, 3600).astype(float)
        for s in range(20):
            labels = {"node": f"n{s}", "region": "us-east"}
            store.append_samples(run, [(t, "c", labels, v) for t, v in zip(ts, counter, strict=True)])
            store.append_samples(run, [(t, "g", labels, v) for t, v in zip(ts, gauge, strict=True)])
        store.finish_run(run, "completed")
        stats = store.run_stats(run)
    assert stats["samples"] == 144_000
    assert stats["encoded_bytes"] / stats["samples"] < 4
    on_disk = sum(p.stat().st_size for p in store_dir.iterdir())
    assert on_disk / stats["samples"] < 8
