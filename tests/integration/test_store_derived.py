"""Derived artifacts (store/derived.py): kept curves and summaries are read back only while fresh; stale, missing
or damaged ones read as None (views recompute); running runs and read-only stores are refused; writes are atomic.
Also the presentation's keep/load pair over a run whose request log is real CSV."""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from presentation import curves
from presentation.derived import SUMMARY_VERSION, comparison_summary, keep_comparison, keep_run, kept_summary
from store import InvalidRecord, RunStore, StoreReadOnly

T0 = 1_764_212_345.0


@pytest.fixture
def store(tmp_path: Path) -> RunStore:
    s = RunStore.open(tmp_path / "store")
    yield s
    s.close()


def finished_run(store: RunStore, cid: str | None = None, topology: str = "a") -> str:
    rid = store.create_run(experiment="e", topology=topology, comparison_id=cid)
    store.update_run(rid, injected_at=T0)
    store.finish_run(rid, "completed")
    return rid


def frame() -> pd.DataFrame:
    return pd.DataFrame({"t": [0.0, 1.0], "availability": [1.0, 0.5]})


def test_frames_round_trip_while_fresh_and_read_as_none_once_stale(store: RunStore) -> None:
    rid = finished_run(store)
    store.put_run_frames(rid, {"availability": frame()}, version=3)
    pd.testing.assert_frame_equal(store.load_run_frames(rid, 3)["availability"], frame())
    assert store.load_run_frames(rid, 4) is None  # another format
    store.update_run(rid, injected_at=T0 + 1)  # the run changed since
    assert store.load_run_frames(rid, 3) is None


def test_running_runs_and_read_only_stores_are_refused(store: RunStore, tmp_path: Path) -> None:
    rid = store.create_run(experiment="e", topology="a")
    with pytest.raises(InvalidRecord, match="still running"):
        store.put_run_frames(rid, {"availability": frame()}, version=1)
    store.finish_run(rid, "completed")
    store.flush()
    with RunStore.open(tmp_path / "store", readonly=True) as ro:
        with pytest.raises(StoreReadOnly):
            ro.put_run_frames(rid, {"availability": frame()}, version=1)
        assert ro.load_run_frames(rid, 1) is None  # nothing kept: readers recompute
    with pytest.raises(InvalidRecord, match="letters"):
        store.put_run_frames(rid, {"../escape": frame()}, version=1)


def test_a_damaged_frame_reads_as_none(store: RunStore) -> None:
    rid = finished_run(store)
    store.put_run_frames(rid, {"availability": frame()}, version=1)
    (store.path / "derived" / "runs" / rid / "availability.parquet").write_bytes(b"not parquet")
    assert store.load_run_frames(rid, 1) is None
    assert not list((store.path / "derived" / "runs" / rid).glob(".*.tmp"))  # no temporary file left behind


def test_comparison_docs_go_stale_when_a_run_is_added(store: RunStore) -> None:
    cid = store.create_comparison("e")
    finished_run(store, cid)
    store.put_comparison_doc(cid, "summary", {"x": 1}, version=2)
    assert store.load_comparison_doc(cid, "summary", 2) == {"x": 1}
    rid = store.create_run(experiment="e", topology="b", comparison_id=cid)
    assert store.load_comparison_doc(cid, "summary", 2) is None
    with pytest.raises(InvalidRecord, match="running run"):
        store.put_comparison_doc(cid, "summary", {"x": 2}, version=2)
    store.finish_run(rid, "completed")
    store.put_comparison_doc(cid, "summary", {"x": 2}, version=2)
    assert store.load_comparison_doc(cid, "summary", 2) == {"x": 2}


def write_requests(path: Path, n: int = 400) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["ts", "end", "client_region", "session", "outcome", "latency_s", "agent", "served_region",
                    "session_ok", "attempts"])
        for i in range(n):
            ts = T0 - 10 + i * 0.05
            ok = not (T0 <= ts < T0 + 3)
            w.writerow([f"{ts:.3f}", f"{ts + 0.02:.3f}", "us", f"s{i % 7}", "ok" if ok else "error", "0.02",
                        "a1" if ok else "", "us" if ok else "", "1" if ok else "", 1])


def test_keep_run_stores_the_curves_views_read_back(store: RunStore, tmp_path: Path) -> None:
    cid = store.create_comparison("e")
    rid = store.create_run(experiment="e", topology="a", comparison_id=cid)
    write_requests(tmp_path / "requests.csv")
    store.attach_request_log(rid, tmp_path / "requests.csv", tmp_path / "runs")
    store.update_run(rid, injected_at=T0)
    store.finish_run(rid, "completed")
    computed = curves.compute_run_curves(store, store.get_run(rid), agents=True)
    assert keep_run(store, rid)
    kept = curves.run_curves(store, store.get_run(rid), agents=True)
    assert kept.kept and kept.source == "request log"
    pd.testing.assert_frame_equal(kept.availability, computed.availability, check_dtype=False)
    assert kept.availability.loc[kept.availability["t"] == 0.0, "availability"].iloc[0] == 0.0  # the outage
    assert not curves.run_curves(store, store.get_run(rid), dt=0.5).kept  # other bin widths are computed
    assert keep_comparison(store, cid)
    assert kept_summary(store, cid) == comparison_summary(store, cid)
    assert store.load_comparison_doc(cid, "summary", SUMMARY_VERSION + 1) is None
