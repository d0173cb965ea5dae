"""The curves of a stored run, built once for the dashboard and the reports.

Availability and throughput per bin, and latency percentiles, relative to the injection time; from the request
log (ground truth) when the run has one, else from the client counters the collector scraped. This is the one
module of ``presentation`` that reads the store: both the dashboard (through its caches) and the reports call it,
so a curve reads the same in both.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from core.errors import AftershockError
from presentation import frames
from results import is_control
from store import RunStore

__all__ = ["LATENCY_COLUMNS", "RunCurves", "injection_time", "run_curves", "comparison_curves", "empty_curves"]

LATENCY_COLUMNS = ("t", "p50", "p90", "p99")
_KEYS = ("topology", "run_id", "control")


@dataclass(frozen=True)
class RunCurves:
    """Curves of one or several runs; ``source`` says where they came from, ``problems`` what could not be drawn."""

    availability: pd.DataFrame
    latency: pd.DataFrame
    source: str | None = None
    problems: tuple[str, ...] = ()


def injection_time(run: Mapping[str, Any]) -> float:
    """t = 0 of every curve: the injection, or the run's start when nothing was injected (yet)."""
    return float(run.get("injected_at") or run.get("started_at") or 0.0)


def empty_curves(*, keyed: bool = False) -> RunCurves:
    keys = list(_KEYS) if keyed else []
    return RunCurves(pd.DataFrame(columns=[*keys, *frames.CURVE_COLUMNS]),
                     pd.DataFrame(columns=[*keys, *LATENCY_COLUMNS]))


def run_curves(store: RunStore, run: Mapping[str, Any], dt: float = 1.0) -> RunCurves:
    """One run's curves: the request log first (ground truth), else the client series."""
    t0 = injection_time(run)
    if store.request_log_path(run["run_id"]) is not None:
        requests = store.load_requests(run["run_id"])
        return RunCurves(frames.availability_curve(requests, t0, dt), frames.latency_percentiles(requests, t0, dt),
                         "request log")
    series = store.load_series(run["run_id"], ["aftershock_client_requests_total"])
    return RunCurves(frames.availability_curve_from_series(series, t0, dt),
                     pd.DataFrame(columns=list(LATENCY_COLUMNS)), "series")


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
