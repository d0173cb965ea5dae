"""Stored runs into the analysis: the one place that turns what the store holds into ``RunInput``s.

The runner, ``aftershock show``, the dashboard and the reports all call these, so they print the same
numbers for the same run.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import pandas as pd

from analysis import (
    SCHEMA_VERSION,
    AnalysisError,
    AnalysisParams,
    DetectionBound,
    FaultWindow,
    RunInput,
    RunMetrics,
    analyse_run,
    compare,
    fault_windows,
    fragility_curves,
    hub_detection_bound,
    json_safe,
    ray_detection_bound,
    swim_detection_bound,
    windows_from_dicts,
)
from analysis.faults import confirmed_by_events, lifted_by_events
from results.axes import annotate_results, axis_of, headroom_block, scale_block
from results.cost import cost_of_comparison
from results.placement import placement_for
from store import RunStore

__all__ = ["detection_bound", "ray_restarts", "run_input", "analyse_stored_run", "summarise_comparison", "Source",
           "stored_fault_windows", "is_control", "sweep_axis"]

log = logging.getLogger("results")

Source = Literal["auto", "request_log", "series"]
DEFAULT_WINDOW_S = 120.0


def ray_restarts(engine: dict[str, Any] | str | None) -> bool:
    """The run left recovery to Ray's actor restarts (settings.engine of a run on the Ray engine; other engines
    record their name only)."""
    return isinstance(engine, dict) and engine.get("name") == "ray" and engine.get("restarts") == "engine"


def detection_bound(topology: dict[str, Any], engine: dict[str, Any] | str | None = None) -> DetectionBound | None:
    """The physical detection bound of a topology (as stored in a run's settings); under Ray's restarts, Ray's
    own (from the health-check config recorded with the run; none when the attached cluster's is unknown)."""
    if ray_restarts(engine):
        assert isinstance(engine, dict)
        hc = engine.get("health_check")
        if not hc:
            return None
        return ray_detection_bound(hc["period_ms"] / 1000, int(hc["failure_threshold"]), hc["timeout_ms"] / 1000)
    try:
        if topology["kind"] == "decentralized":
            m = topology["membership"]
            members = sum(r["nodes"] for r in topology["regions"])
            return swim_detection_bound(m["probe_period_s"], m["probe_timeout_s"], m["suspicion_mult"], members)
        h = topology["health"]
        return hub_detection_bound(h["interval_s"], h["failure_threshold"], h.get("timeout_s", 0.0))
    except (KeyError, TypeError):
        return None


def run_input(store: RunStore, run_id: str, *, source: Source = "auto",
              params: AnalysisParams | None = None) -> RunInput:
    """Load one stored run as the analysis' input; ``auto`` prefers the request log (ground truth)."""
    run = store.get_run(run_id)
    if run.get("injected_at") is None:
        raise AnalysisError(f"run {run_id} has no injection time: its experiment's method never ran")
    settings = run.get("settings") or {}
    topology = settings.get("topology") or {}
    params = params or AnalysisParams(window_s=run_window(run))
    requests = series = None
    if source in ("auto", "request_log") and store.request_log_path(run_id) is not None:
        requests = store.load_requests(run_id)
    if requests is None or source == "series":
        if source == "request_log":
            raise AnalysisError(f"run {run_id} has no request log; analyse it from its collected series instead")
        series = store.load_series(run_id, ["aftershock_client_requests_total",
                                            "aftershock_client_request_duration_seconds_bucket",
                                            "aftershock_client_sessions_lost_total"])
        if series.empty:
            raise AnalysisError(f"run {run_id} has neither a request log nor client series to analyse")
    events = store.load_events(run_id)
    t0 = float(run["injected_at"])
    workload = topology.get("workload") or {}
    standby = (topology.get("hub") or {}).get("standby") or {}
    return RunInput(
        run_id=run_id, topology=run["topology"], injected_at=t0,
        repeat=int(run.get("repeat") or 0), status=run["status"], requests=requests, series=series,
        events=events, executions=store.load_executions(run_id) if requests is not None else None,
        request_log_path=str(store.request_log_path(run_id) or "") or None,
        detection=detection_bound(topology, settings.get("engine")) if topology else None,
        restart_delay_s=0.0 if ray_restarts(settings.get("engine")) else  # Ray restarts at once
        (topology.get("healing") or {}).get("restart_delay_s"),
        failover_delay_s=standby.get("failover_delay_s"), client_timeout_s=workload.get("timeout_s"),
        fault_windows=stored_fault_windows(store, run_id, events),
        placement=placement_for(topology, events, t0) if topology else None,
        intensity=settings.get("intensity"), control=is_control(run), observed_s=run_window(run),
        agents=_agents(topology), autoscale=bool(topology.get("autoscale")), params=params,
    )


def _agents(topology: dict[str, Any]) -> int | None:
    """Agents a stored topology starts with (None for a topology that does not say, e.g. an attached target)."""
    try:
        return sum(int(r["nodes"]) for r in topology["regions"]) * int(topology.get("agents_per_node", 1))
    except (KeyError, TypeError, ValueError):
        return None


def is_control(run: Any) -> bool:
    """A control run: the experiment with its faults replaced by no-ops (``aftershock run --control``)."""
    return bool((run.get("settings") or {}).get("control") or (run.get("meta") or {}).get("control"))


def stored_fault_windows(store: RunStore, run_id: str, events: pd.DataFrame | None = None
                         ) -> tuple[FaultWindow, ...] | None:
    """The run's fault windows: as stored at the end of the run, else derived from its timeline (older runs);
    an injection whose action reported a failure counts from the first event of its effect (dropped without
    one), and a lift by the lab itself (dead-man, emergency stop, expiry) in the event log ends a window early.
    None when nothing was recorded (no timeline)."""
    stored = store.load_fault_windows(run_id)
    if stored is not None:
        windows = windows_from_dicts(stored)
    else:
        timeline = store.load_timeline(run_id)
        if not timeline:
            return None
        windows = fault_windows(timeline)
    if events is not None and not events.empty:
        records = events.to_dict("records")
        windows = lifted_by_events(confirmed_by_events(windows, records), records)
    return windows


def run_window(run: dict[str, Any]) -> float:
    """The run's analysis window T: from injection to the end of its observation."""
    meta = run.get("meta") or {}
    settings = run.get("settings") or {}
    return float(meta.get("analysis_window_s") or settings.get("analysis_window_s") or DEFAULT_WINDOW_S)


def analyse_stored_run(store: RunStore, run_id: str, *, source: Source = "auto",
                       params: AnalysisParams | None = None) -> RunMetrics:
    return analyse_run(run_input(store, run_id, source=source, params=params))


def summarise_comparison(store: RunStore, comparison_id: str, *, source: Source = "auto",
                         params: AnalysisParams | None = None, seed: int = 0) -> dict[str, Any]:
    """The stable JSON summary of docs/results.md for a stored comparison.

    Runs that cannot be analysed (interrupted before injection, no data) are listed with their status
    and an ``error``; they take no part in medians or verdicts.
    """
    comparison = store.get_comparison(comparison_id)
    analysed: list[RunMetrics] = []
    skipped: list[dict[str, Any]] = []
    if params is None:
        # One window T for every run of a comparison, so resilience R is comparable across topologies; runs cut
        # short (interrupted, aborted) and control runs do not shrink it: they are analysed as partial over T.
        full = [r for r in comparison["runs"] if r.get("injected_at") is not None]
        windows = [run_window(store.get_run(r["run_id"])) for r in full
                   if r["status"] not in ("aborted", "interrupted") and not is_control(r)]
        windows = windows or [run_window(store.get_run(r["run_id"])) for r in full]
        params = AnalysisParams(window_s=min(windows)) if windows else None
    for run in comparison["runs"]:
        try:
            analysed.append(analyse_stored_run(store, run["run_id"], source=source, params=params))
        except AnalysisError as exc:
            skipped.append({"run_id": run["run_id"], "topology": run["topology"], "repeat": run.get("repeat", 0),
                            "status": run["status"], "error": str(exc)})
    summary = compare(analysed, comparison_id=comparison_id, experiment=comparison["experiment"],
                      seed=seed).to_json_dict() if analysed else {
        "schema_version": SCHEMA_VERSION, "comparison_id": comparison_id, "experiment": comparison["experiment"],
        "results": [], "summary": {}, "verdicts": [], "controls": {}, "control_effects": [], "notes": []}
    summary["not_analysed"] = skipped
    summary["kind"] = comparison.get("kind", "comparison")
    summary["meta"] = comparison.get("meta") or {}
    axis = sweep_axis(summary["meta"]) if summary["kind"] == "sweep" else None
    if axis == "intensity" and analysed:
        summary["fragility"] = fragility_of(analysed)
    elif axis in ("scale", "capacity"):  # results/axes.py, docs/results.md
        axes = {str(r["run_id"]): axis_of(r) for r in comparison["runs"]}
        annotate_results(summary, axes)
        if axis == "scale":
            summary["scale"] = scale_block(analysed, axes, seed=seed,
                                           grow_regions=bool(summary["meta"].get("scale_regions")))
        else:
            summary["headroom"] = headroom_block(analysed, axes, slo=params.slo if params else None)
    summary["cost"] = cost_of_comparison(store, comparison, run_window)  # results/cost.py, docs/results.md
    return summary


def sweep_axis(meta: dict[str, Any]) -> str:
    """The axis a stored sweep ran along: ``meta.axis``; sweeps stored before there was a choice are intensity
    sweeps."""
    axis = (meta or {}).get("axis")
    return str(axis) if axis in ("intensity", "scale", "capacity") else "intensity"


def fragility_of(runs: list[RunMetrics]) -> dict[str, Any]:
    """Harm (1 - R/100) against intensity per topology, classified (docs/analysis.md)."""
    rows = [{"topology": r.topology, "intensity": r.intensity, "resilience": r.metrics.get("resilience")}
            for r in runs if r.intensity is not None and r.metrics.get("resilience") is not None
            and r.status not in ("aborted", "interrupted") and not r.control]
    if not rows:
        return {"curves": [], "points": []}
    frame = pd.DataFrame(rows)
    curves = fragility_curves(frame)
    points = (frame.assign(harm=1 - frame["resilience"] / 100).groupby(["topology", "intensity"])["harm"]
              .median().reset_index())
    return json_safe({"curves": curves.to_dict("records"), "points": points.to_dict("records")})
