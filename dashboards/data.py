"""The only place pages get data: cached loads from the store, the analysis and the labs.

Every function takes plain hashable arguments (paths as strings, ids, a ``stamp`` that changes when a
run changes) so ``st.cache_data`` can key on them. Missing or bad data never raises into a page: loads
return empty frames / None plus a one-line ``problem`` the page shows.

Finished runs and comparisons are read from what the runner derived when they ended (``presentation.derived``:
the curves and the JSON summary kept in the store), so a first visit does not re-read raw request logs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from core.errors import AftershockError
from core.settings import Settings
from fleet.lab import list_labs
from presentation import curves, frames
from presentation.derived import comparison_summary
from reports import build_report as _build
from scheduling import regressions_for
from store import ComparisonRecord, RunRecord, RunStore

__all__ = [
    "LIVE_TTL_S",
    "OVERVIEW_MAX_COMPARISONS",
    "open_store",
    "load_comparisons",
    "load_runs",
    "load_comparison",
    "comparison_stamp",
    "run_stamp",
    "load_summary",
    "load_run",
    "load_run_curves",
    "load_comparison_curves",
    "load_run_detail",
    "load_journal",
    "load_labs",
    "lab_of",
    "load_trends",
    "load_overview",
    "load_regressions",
    "build_report",
]

log = logging.getLogger("aftershock.dashboards")

#: Seconds a live load (running runs, lab status) may be stale.
LIVE_TTL_S = 2.0
#: The Overview reads at most this many comparisons (newest first) to fill its matrix.
OVERVIEW_MAX_COMPARISONS = 40
_RUN_COLS = ["run_id", "comparison_id", "experiment", "topology", "repeat", "status", "started_at", "ended_at",
             "injected_at", "duration_s"]
_CMP_COLS = ["comparison_id", "experiment", "kind", "title", "created_at", "runs", "topologies"]


@contextmanager
def open_store(store_dir: str) -> Iterator[RunStore | None]:
    """The store read-only, or None when nothing was recorded yet (no exception for an empty home)."""
    if not (Path(store_dir) / "runs.sqlite").exists():
        yield None
        return
    store = RunStore.open(Path(store_dir), readonly=True)
    try:
        yield store
    finally:
        store.close()


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def load_comparisons(store_dir: str) -> tuple[pd.DataFrame, str | None]:
    """All comparisons, newest first (empty frame when the store does not exist yet)."""
    try:
        with open_store(store_dir) as store:
            return (store.list_comparisons() if store else pd.DataFrame(columns=_CMP_COLS)), None
    except AftershockError as exc:
        return pd.DataFrame(columns=_CMP_COLS), str(exc)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def load_runs(store_dir: str, status: str | None = None) -> tuple[pd.DataFrame, str | None]:
    """All runs (optionally of one status), newest first."""
    try:
        with open_store(store_dir) as store:
            return (store.list_runs(status=status) if store else pd.DataFrame(columns=_RUN_COLS)), None
    except AftershockError as exc:
        return pd.DataFrame(columns=_RUN_COLS), str(exc)


def _record(store_dir: str, getter: str, item_id: str) -> tuple[Any, str | None]:
    """One comparison or run record, or the reason there is none (never raises into a page)."""
    try:
        with open_store(store_dir) as store:
            if store is None:
                return None, "no run store yet"
            return getattr(store, getter)(item_id), None
    except AftershockError as exc:
        return None, str(exc)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def load_comparison(store_dir: str, comparison_id: str) -> tuple[ComparisonRecord | None, str | None]:
    return _record(store_dir, "get_comparison", comparison_id)


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def load_run(store_dir: str, run_id: str) -> tuple[RunRecord | None, str | None]:
    return _record(store_dir, "get_run", run_id)


def run_stamp(run: RunRecord) -> str:
    """Changes whenever the run may have changed: a finished run's loads are cached for good,
    a running run's for about :data:`LIVE_TTL_S`."""
    live = f":{int(time.time() / LIVE_TTL_S)}" if run.status == "running" else ""
    return f"{run.status}:{run.ended_at}:{run.injected_at}{live}"


def comparison_stamp(comparison: ComparisonRecord) -> str:
    return "|".join(f"{r.run_id}={run_stamp(r)}" for r in comparison.runs)


@st.cache_data(max_entries=64, show_spinner="Analysing the comparison...")
def load_summary(store_dir: str, comparison_id: str, stamp: str) -> tuple[dict[str, Any] | None, str | None]:
    """The JSON summary of docs/results.md (medians, intervals, verdicts): kept by the runner when the comparison
    ended, else computed as the CLI and reports compute it."""
    del stamp  # part of the cache key only
    try:
        with open_store(store_dir) as store:
            if store is None:
                return None, "no run store yet"
            return comparison_summary(store, comparison_id), None
    except (AftershockError, ValueError, OSError) as exc:
        log.warning("summary of %s failed: %s", comparison_id, exc)
        return None, f"cannot analyse comparison {comparison_id}: {exc}"


@st.cache_data(max_entries=64, show_spinner=False)
def load_run_curves(store_dir: str, run_id: str, stamp: str, dt: float = 1.0) -> dict[str, Any]:
    """``availability``, ``latency`` and ``agents`` frames of one run (t relative to injection), ``source``,
    ``problem``."""
    del stamp
    empty = curves.empty_curves()
    out: dict[str, Any] = {"availability": empty.availability, "latency": empty.latency,
                           "agents": frames.agents_by_region(None, 0.0), "source": None, "problem": None}
    try:
        with open_store(store_dir) as store:
            if store is None:
                out["problem"] = "no run store yet"
                return out
            got = curves.run_curves(store, store.get_run(run_id), dt, agents=True)
            out.update(availability=got.availability, latency=got.latency, source=got.source)
            if got.agents is not None:
                out["agents"] = got.agents
    except (AftershockError, ValueError, OSError) as exc:
        out["problem"] = f"cannot load the curves of run {run_id}: {exc}"
    return out


@st.cache_data(max_entries=16, show_spinner="Loading the runs...")
def load_comparison_curves(store_dir: str, comparison_id: str, stamp: str, dt: float = 1.0) -> dict[str, Any]:
    """Every run's curves with ``topology``, ``run_id`` and ``control`` columns, ready to overlay; ``problems``."""
    del stamp
    problems: list[str] = []
    got = curves.empty_curves(keyed=True)
    try:
        with open_store(store_dir) as store:
            if store is not None:
                got = curves.comparison_curves(store, store.get_comparison(comparison_id).runs, dt)
    except AftershockError as exc:
        problems.append(str(exc))
    return {"availability": got.availability, "latency": got.latency, "problems": [*got.problems, *problems]}


@st.cache_data(max_entries=32, show_spinner=False)
def load_run_detail(store_dir: str, run_id: str, stamp: str) -> dict[str, Any]:
    """Timeline, events and (for a run still going) its fault windows so far, times relative to injection."""
    del stamp
    out: dict[str, Any] = {"timeline": frames.timeline_frame([], 0.0), "events": frames.events_frame(None, 0.0),
                           "windows": frames.timeline_fault_windows([], 0.0, 0.0), "problem": None}
    try:
        with open_store(store_dir) as store:
            if store is None:
                out["problem"] = "no run store yet"
                return out
            run = store.get_run(run_id)
            timeline = store.load_timeline(run_id)
            out["timeline"] = frames.timeline_frame(timeline, run.t0)
            out["events"] = frames.events_frame(store.load_events(run_id), run.t0)
            out["windows"] = frames.timeline_fault_windows(timeline, run.t0, time.time(), run.topology, run_id,
                                                           injected=run.injected_at is not None)
    except (AftershockError, ValueError, OSError) as exc:
        out["problem"] = f"cannot load run {run_id}: {exc}"
    return out


@st.cache_data(max_entries=32, show_spinner=False)
def load_journal(store_dir: str, run_id: str, stamp: str) -> dict[str, Any] | None:
    del stamp
    try:
        with open_store(store_dir) as store:
            return store.get_journal(run_id) if store else None
    except AftershockError:
        return None


@st.cache_data(ttl=LIVE_TTL_S, show_spinner=False)
def load_labs(home: str) -> list[dict[str, Any]]:
    """Status of every running lab (from each lab's state file, rewritten by its supervisor)."""
    try:
        return list_labs(Settings(home=Path(home)))
    except (AftershockError, OSError) as exc:
        log.warning("cannot list labs: %s", exc)
        return []


def lab_of(run: RunRecord, labs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The running lab a run acts on (``RunRecord.lab``, written by the runner and the recording control)."""
    return next((lab for lab in labs if run.lab and lab.get("name") == run.lab), None)


def build_report(store_dir: str, home: str, item_id: str, fmt: str) -> tuple[bytes | None, str | None]:
    """A report of a run or comparison (``reports.build_report``), or why it cannot be built."""
    try:
        with open_store(store_dir) as store:
            if store is None:
                return None, "no run store yet"
            return _build(store, item_id, fmt, home=Path(home)), None
    except AftershockError as exc:
        return None, str(exc)


@st.cache_data(ttl=10, show_spinner=False)
def load_regressions(home: str) -> pd.DataFrame:
    """Regressions flagged by scheduled runs (empty when nothing was scheduled)."""
    return regressions_for(home)


def _finished(store_dir: str, comparison_id: str) -> tuple[ComparisonRecord | None, dict[str, Any] | None]:
    comp, _ = load_comparison(store_dir, comparison_id)
    if comp is None or not comp.runs or any(r.status == "running" for r in comp.runs):
        return comp, None
    summary, _ = load_summary(store_dir, comparison_id, comparison_stamp(comp))
    return comp, summary


_TREND_COLS = ["comparison_id", "experiment", "created_at", "topology", "resilience", "ttr_s", "ttr_censored"]


def load_trends(store_dir: str, comparisons: pd.DataFrame) -> pd.DataFrame:
    """Median resilience and TTR per comparison and topology.

    Why one cached computation for all of them (keyed by a stamp of every run's state), not one cache entry per
    comparison: with hundreds of comparisons the per-comparison entries (and a store opened for each) were most
    of the History page's time, and a bounded cache thrashed on every visit (docs/benchmarks.md, "Load").
    """
    runs, _ = load_runs(store_dir)
    stamp = str(int(pd.util.hash_pandas_object(runs[["run_id", "status", "ended_at"]], index=False).sum())
                if not runs.empty else 0)
    return _trends(store_dir, tuple(str(c) for c in comparisons["comparison_id"]), stamp)


@st.cache_data(max_entries=8, show_spinner="Computing the trends...")
def _trends(store_dir: str, comparison_ids: tuple[str, ...], stamp: str) -> pd.DataFrame:
    """Every finished comparison's trend rows, read with one store opened (kept summaries: no analysis)."""
    del stamp  # part of the cache key only
    rows: list[dict[str, Any]] = []
    try:
        with open_store(store_dir) as store:
            for cid in comparison_ids if store is not None else ():
                comp = store.get_comparison(cid)
                if not comp.runs or any(r.status == "running" for r in comp.runs):
                    continue
                try:
                    rows.extend(frames.trend_rows(comp, comparison_summary(store, cid)))
                except (AftershockError, ValueError, OSError) as exc:  # one comparison never hides the others
                    log.warning("trends: comparison %s left out: %s", cid, exc)
    except AftershockError as exc:
        log.warning("trends unavailable: %s", exc)
    return pd.DataFrame(rows, columns=_TREND_COLS)


def load_overview(store_dir: str, comparisons: pd.DataFrame) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
    """(comparison row, its summary or None while a run is going) for the newest comparisons."""
    out = []
    for row in comparisons.head(OVERVIEW_MAX_COMPARISONS).to_dict("records"):
        comp, summary = _finished(store_dir, str(row["comparison_id"]))
        running = comp is not None and any(r.status == "running" for r in comp.runs)
        out.append(({**row, "running": running}, summary))
    return out
