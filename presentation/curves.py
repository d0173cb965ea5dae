"""The curves of a stored run, built once for the dashboard and the reports.

Availability and throughput per bin, latency percentiles of successes, and agents alive per region, relative to
the injection time; from the request log (ground truth) when the run has one, else from the client counters the
collector scraped. With ``presentation.derived`` this is the part of ``presentation`` that reads the store: the
dashboard (through its caches) and the reports call it, so a curve reads the same in both.

A finished run's 1 s curves are derived once when it ends (:func:`derive_run_curves`, called by the runner) and
kept in the store (``store.derived``); :func:`run_curves` reads them back and computes them only when nothing
fresh is kept (a run still going, one recorded by ``chaos run`` alone, or one kept by an older format).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from core.errors import AftershockError
from presentation import frames
from results import is_control
from store import RunStore

__all__ = ["LATENCY_COLUMNS", "AGENT_COLUMNS", "CURVES_VERSION", "DERIVED_DT", "RunCurves", "injection_time",
           "run_curves", "comparison_curves", "empty_curves", "compute_run_curves", "derive_run_curves"]

log = logging.getLogger("aftershock.presentation")

LATENCY_COLUMNS = ("t", "p50", "p90", "p99")
AGENT_COLUMNS = ("t", "region", "agents")
#: format of the kept curves; bump it when a column changes meaning (kept curves of another version are ignored)
CURVES_VERSION = 1
#: the bin width of the kept curves (other widths are computed on demand)
DERIVED_DT = 1.0
_AGENTS_METRIC = "aftershock_agents_alive"
_KEYS = ("topology", "run_id", "control")


@dataclass(frozen=True)
class RunCurves:
    """Curves of one or several runs; ``source`` says where they came from, ``problems`` what could not be drawn."""

    availability: pd.DataFrame
    latency: pd.DataFrame
    source: str | None = None
    problems: tuple[str, ...] = ()
    agents: pd.DataFrame | None = None  # t, region, agents (one run only; None when not asked for)
    kept: bool = False  # read back from the store's derived artifacts (not recomputed)


def injection_time(run: Mapping[str, Any]) -> float:
    """t = 0 of every curve: the injection, or the run's start when nothing was injected (yet)."""
    return float(run.get("injected_at") or run.get("started_at") or 0.0)


def empty_curves(*, keyed: bool = False) -> RunCurves:
    keys = list(_KEYS) if keyed else []
    return RunCurves(pd.DataFrame(columns=[*keys, *frames.CURVE_COLUMNS]),
                     pd.DataFrame(columns=[*keys, *LATENCY_COLUMNS]))


def _source(store: RunStore, run_id: str) -> str:
    return "request log" if store.request_log_path(run_id) is not None else "series"


def compute_run_curves(store: RunStore, run: Mapping[str, Any], dt: float = 1.0, *,
                       agents: bool = False) -> RunCurves:
    """One run's curves computed from what the store holds: the request log first (ground truth), else the
    client series; with ``agents``, also agents alive per region from the collected series."""
    t0 = injection_time(run)
    agents_frame = None
    if agents:
        agents_frame = frames.agents_by_region(store.load_series(run["run_id"], [_AGENTS_METRIC]), t0, dt)
    if _source(store, run["run_id"]) == "request log":
        requests = store.load_requests(run["run_id"])
        return RunCurves(frames.availability_curve(requests, t0, dt), frames.latency_percentiles(requests, t0, dt),
                         "request log", agents=agents_frame)
    series = store.load_series(run["run_id"], ["aftershock_client_requests_total"])
    return RunCurves(frames.availability_curve_from_series(series, t0, dt),
                     pd.DataFrame(columns=list(LATENCY_COLUMNS)), "series", agents=agents_frame)


def derive_run_curves(store: RunStore, run_id: str) -> RunCurves:
    """Compute a finished run's 1 s curves (agents included) and keep them in the store; the runner calls this
    when a run ends, so no view reads its raw request log again."""
    run = store.get_run(run_id)
    got = compute_run_curves(store, run, DERIVED_DT, agents=True)
    store.put_run_frames(run_id, {"availability": got.availability, "latency": got.latency,
                                  "agents": got.agents if got.agents is not None else
                                  pd.DataFrame(columns=list(AGENT_COLUMNS))}, CURVES_VERSION)
    return got


def run_curves(store: RunStore, run: Mapping[str, Any], dt: float = 1.0, *, agents: bool = False) -> RunCurves:
    """One run's curves: kept ones when the run finished and they are fresh (1 s bins), else computed."""
    if dt == DERIVED_DT and run.get("status") != "running":
        kept = store.load_run_frames(run["run_id"], CURVES_VERSION)
        if kept is not None and {"availability", "latency", "agents"} <= kept.keys():
            return RunCurves(kept["availability"], kept["latency"], _source(store, run["run_id"]),
                             agents=kept["agents"] if agents else None, kept=True)
    return compute_run_curves(store, run, dt, agents=agents)


def comparison_curves(store: RunStore, runs: Iterable[Mapping[str, Any]], dt: float = 1.0) -> RunCurves:
    """Every run's curves with ``topology``, ``run_id`` and ``control`` columns, ready to overlay (control runs,
    drawn in grey, show the run-to-run noise); a run that cannot be drawn is named in ``problems`` and the
    others are still drawn."""
    avail, lat, problems = [], [], []
    for run in runs:
        try:
            curves = run_curves(store, run, dt)
        except (AftershockError, ValueError, OSError) as exc:
            problems.append(f"{run['run_id']}: {exc}")
            continue
        keys = {"topology": run["topology"], "run_id": run["run_id"], "control": is_control(run)}
        avail.append(curves.availability.assign(**keys))
        lat.append(curves.latency.assign(**keys))
    empty = empty_curves(keyed=True)
    return RunCurves(pd.concat(avail, ignore_index=True) if avail else empty.availability,
                     pd.concat(lat, ignore_index=True) if lat else empty.latency, None, tuple(problems))
