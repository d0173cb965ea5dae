"""One run in, its resilience figures out: the composition of the other modules.

``analyse_run`` takes plain inputs (frames already loaded by the caller) and never reads files,
so the dashboard, the reports and the CLI get the same numbers for the same run.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.availability import availability_from_requests, availability_from_series
from analysis.bounds import DetectionBound
from analysis.detection import time_to_detect
from analysis.edges import refine_onset, refine_recovery
from analysis.elasticity import Elasticity, elasticity_summary
from analysis.errors import AnalysisError
from analysis.faults import FaultWindow, RecoveryClass, classify_recovery, recovery_text, union
from analysis.impact import (
    availability_during,
    blast_radius_regions,
    blast_radius_sessions,
    budget_burn,
    lost_tasks,
    sessions_lost,
    sessions_lost_from_series,
)
from analysis.jsonsafe import json_safe
from analysis.latency import latency_by_outcome, ok_latency_inflation
from analysis.ledger import Ledger, task_ledger
from analysis.mechanism import Mechanism, MechanismBounds, identify_mechanism, mechanism_bound
from analysis.overload import Overload, overload_summary
from analysis.params import DEFAULT_PARAMS, AnalysisParams
from analysis.recovery import Recovery, analyse_availability
from analysis.sessions import SessionBound, sessions_lost_bound

__all__ = ["METRIC_KEYS", "PARTIAL_STATUSES", "Placement", "RunInput", "RunMetrics", "analyse_run"]

# the keys of ``metrics`` in the JSON summary, in this order (docs/results.md)
METRIC_KEYS = (
    "availability_baseline",
    "availability_min",
    "availability_during_fault",
    "impact_onset_s",
    "ttd_s",
    "ttr_s",
    "recovered",
    "recovery",
    "ttr_after_lift_s",
    "returned_s",
    "fault_s",
    "depth",
    "resilience_loss",
    "resilience",
    "lost_tasks",
    "sessions_lost",
    "p99_inflation",
    "p99_ok_s",
    "p99_ok_baseline_s",
    "time_to_fail_p99_s",
    "timeouts",
    "rejected_tasks",
    "queued_tasks",
    "agents_added",
    "agents_removed",
    "time_to_absorb_s",
    "blast_radius_regions",
    "blast_radius_sessions",
    "budget_burn",
    "lost_writes",
    "duplicated_tasks",
    "indeterminate_tasks",
)

#: statuses of runs that stopped before their course: figures only over the data they have
PARTIAL_STATUSES = frozenset({"aborted", "interrupted"})

#: (session, node that served it last, that node's region) -> the nodes holding a copy of its memory
Placement = Callable[[str, str, str], Sequence[str]]


@dataclass(frozen=True)
class RunInput:
    """Everything one run's analysis needs; give ``requests`` (preferred) or ``series``.

    ``victims``/``victim_regions`` None: taken from the event log (nodes killed or paused, regions
    killed after injection). ``fault_windows`` None: not recorded (recovery cannot be told self-healed
    from lifted). ``executions`` is the agents' execution log (the ledger's other side); ``placement``
    gives the copies of a session's memory (for the sessions-lost bound). ``observed_s``: how long after t0
    the run was observed; recovery is searched that far even when the comparison's window T
    (``params.window_s``, over which R is computed) is shorter (a slow lift must not censor a recovery).
    """

    run_id: str
    topology: str
    injected_at: float
    repeat: int = 0
    status: str = "completed"
    requests: pd.DataFrame | None = None
    series: pd.DataFrame | None = None
    events: pd.DataFrame | None = None
    executions: pd.DataFrame | None = None
    request_log_path: str | None = None
    victims: frozenset[str] | None = None
    victim_regions: frozenset[str] | None = None
    detection: DetectionBound | None = None
    restart_delay_s: float | None = None
    failover_delay_s: float | None = None
    client_timeout_s: float | None = None
    fault_windows: tuple[FaultWindow, ...] | None = None
    placement: Placement | None = None
    replication_period_s: float = 0.2
    intensity: float | None = None
    control: bool = False
    observed_s: float | None = None
    agents: int | None = None  # agents the topology starts with (None: unknown; no elasticity figures)
    autoscale: bool = False  # the topology has an autoscaling policy
    params: AnalysisParams = DEFAULT_PARAMS


@dataclass(frozen=True)
class RunMetrics:
    """The figures of one run; ``metrics`` holds exactly :data:`METRIC_KEYS` (None where unknown)."""

    run_id: str
    topology: str
    repeat: int
    status: str
    source: str
    injected_at: float
    request_log: str | None
    metrics: dict[str, Any]
    bounds: dict[str, Any]
    params: dict[str, Any]
    intensity: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)
    recovery: dict[str, Any] = field(default_factory=dict)
    fault_windows: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    latency: dict[str, Any] = field(default_factory=dict)
    ledger: dict[str, Any] | None = None
    overload: dict[str, Any] | None = None
    elasticity: dict[str, Any] | None = None
    sessions: dict[str, Any] | None = None
    partial: dict[str, Any] = field(default_factory=dict)
    control: bool = False

    def to_json_dict(self) -> dict[str, Any]:
        """The run's entry of ``results`` in the JSON summary (JSON-safe)."""
        out = {
            "run_id": self.run_id,
            "topology": self.topology,
            "repeat": self.repeat,
            "status": self.status,
            "control": self.control,
            "source": self.source,
            "injected_at": self.injected_at,
            "request_log": self.request_log,
            "intensity": self.intensity,
            "metrics": {k: self.metrics.get(k) for k in METRIC_KEYS},
            "recovery": self.recovery,
            "fault_windows": list(self.fault_windows),
            "latency": self.latency,
            "ledger": self.ledger,
            "overload": self.overload,
            "elasticity": self.elasticity,
            "sessions": self.sessions,
            "partial": self.partial,
            "bounds": self.bounds,
            "params": self.params,
            "notes": list(self.notes),
        }
        return json_safe(out)


def _counts(run: RunInput, start: float, end: float) -> tuple[str, pd.DataFrame, pd.DataFrame]:
    p = run.params
    if run.requests is not None:
        kw = {"time_col": p.time_col}
        total = availability_from_requests(run.requests, p.dt, start, end, **kw)
        regions = availability_from_requests(run.requests, p.dt, start, end, per_region=True, **kw)
        return "request_log", total, regions
    if run.series is not None:
        total = availability_from_series(run.series, p.dt, start, end)
        regions = availability_from_series(run.series, p.dt, start, end, per_region=True)
        return "series", total, regions
    raise AnalysisError(f"run {run.run_id}: give a request log or collected series to analyse")


def _data_start(run: RunInput) -> float:
    if run.requests is not None:
        col = run.requests[run.params.time_col]
    elif run.series is not None:
        col = run.series["ts"]
    else:
        raise AnalysisError(f"run {run.run_id}: give a request log or collected series to analyse")
    if col.empty:
        what = "request log" if run.requests is not None else "series"
        raise AnalysisError(f"run {run.run_id}: the {what} is empty")
    return float(col.min())


@dataclass(frozen=True)
class _Edges:
    onset_s: float | None
    t1: float | None


def _edges(run: RunInput, rec: Recovery, t0: float, source: str) -> _Edges:
    """Onset and t1 at the request log's resolution (or the bins' when asked, or from series)."""
    p = run.params
    if source != "request_log" or p.resolution == "bin" or rec.onset_s is None:
        return _Edges(rec.onset_s, rec.t1)
    onset = refine_onset(run.requests, t0, t0 + rec.onset_s, p.dt, p.time_col)
    t1 = refine_recovery(run.requests, rec.t1, onset, p.time_col) if rec.t1 is not None else None
    return _Edges(round(onset - t0, 6), None if t1 is None else round(t1, 6))


def _partial(run: RunInput, rec: Recovery) -> dict[str, Any]:
    """A run that stopped early, or whose data stops before the window: figures only over what it saw."""
    p = run.params
    covers = rec.data_end_s
    short = covers is None or covers < p.window_s - max(2 * p.dt, 2.0)
    partial = run.status in PARTIAL_STATUSES or short
    return {"partial": bool(partial), "covers_s": covers, "window_s": p.window_s,
            "reason": (f"run {run.status}" if run.status in PARTIAL_STATUSES else
                       "data ends before the window" if short else None)}


#: events of the lab bringing back what a lift restored: memory lost until the last of them is the fault's doing
_LIFT_SETTLE_KINDS = frozenset({"region_restored", "healed", "node_restarted", "agent_restarted", "node_resumed",
                                "node_unthrottled", "deadman_healed", "stop_healed", "fault_expired"})
_LIFT_ACTORS = frozenset({"restore", "heal"})


def _loss_spans(windows: tuple[FaultWindow, ...] | None, events: pd.DataFrame | None, until: float,
                impact: tuple[float, float]) -> list[tuple[float, float]]:
    """The spans in which session memory lost is the fault's doing: each window, extended past its lift to the
    lab's last restart or restore that the lift caused (a restore of ten processes can take a minute on a busy
    machine, and a restarted holder starts with no memory). Without windows: the impact window."""
    if windows is None:
        return [impact]
    spans = union(windows, until)
    if events is None or events.empty or not spans:
        return spans
    ts = events["ts"].to_numpy(dtype=float)
    kind = events["kind"].astype(str).to_numpy()
    by = events["by"].astype(str).to_numpy() if "by" in events.columns else np.full(len(events), "")
    settle = np.isin(kind, list(_LIFT_SETTLE_KINDS)) & (~np.isin(kind, ["node_restarted", "agent_restarted"])
                                                        | np.isin(by, list(_LIFT_ACTORS)))
    out = []
    for i, (s, e) in enumerate(spans):
        nxt = spans[i + 1][0] if i + 1 < len(spans) else math.inf
        later = ts[settle & (ts >= e) & (ts < nxt)]
        out.append((s, max(e, float(later.max())) if later.size else e))
    return out


def _mechanism_bounds(run: RunInput) -> MechanismBounds:
    return MechanismBounds(detection=run.detection, restart_delay_s=run.restart_delay_s,
                           failover_delay_s=run.failover_delay_s, client_timeout_s=run.client_timeout_s)


def _dead_nodes(events: pd.DataFrame | None, start: float, end: float) -> dict[str, float]:
    if events is None or events.empty:
        return {}
    ts = events["ts"].to_numpy(dtype=float)
    part = events[(ts >= start) & (ts < end) & (events["kind"].astype(str) == "node_killed").to_numpy()]
    dead: dict[str, float] = {}
    for row in part.itertuples(index=False):
        if row.node and str(row.node) not in dead:
            dead[str(row.node)] = float(row.ts)
    return dead


def _sessions_bound(run: RunInput, ledger: Ledger, t0: float, end: float) -> SessionBound | None:
    if run.placement is None or run.executions is None or run.executions.empty or run.requests is None:
        return None
    ex = run.executions
    before = ex[ex["end"].to_numpy(dtype=float) < t0].sort_values("end", kind="mergesort")
    last = before.drop_duplicates("session", keep="last")
    req = run.requests
    t = req["ts"].to_numpy(dtype=float)
    answered = set(req.loc[(t >= t0) & (req["outcome"].astype(str) == "ok").to_numpy(), "session"].astype(str))
    placement = {str(r.session): list(run.placement(str(r.session), str(r.node), str(r.region)))
                 for r in last.itertuples(index=False) if str(r.session) in answered}
    lost = {x.session for x in ledger.losses if x.read_at >= t0}
    acked = {x.session: x.acknowledged_at for x in ledger.losses if x.read_at >= t0}
    return sessions_lost_bound(placement, _dead_nodes(run.events, t0, end), lost, last_write=acked,
                               replication_period_s=run.replication_period_s)


def analyse_run(run: RunInput) -> RunMetrics:
    """Compute every per-run figure of docs/analysis.md for one run."""
    p = run.params
    t0 = float(run.injected_at)
    first = t0 - p.baseline_s if p.baseline_s is not None else _data_start(run)
    # bins aligned on t0, so t0 and t1 are bin edges
    start = t0 - math.ceil((t0 - first) / p.dt - 1e-9) * p.dt if first < t0 else t0 - p.dt
    horizon = max(p.window_s, run.observed_s or 0.0)
    end = t0 + horizon
    source, counts, regions = _counts(run, start, end)
    rec = analyse_availability(
        counts, t0, dt=p.dt, eps=p.eps, sustain_s=p.sustain_s, window_s=horizon, baseline_s=p.baseline_s,
        r_window_s=p.window_s,
    )
    notes: list[str] = []
    partial = _partial(run, rec)
    has_data = rec.data_end_s is not None
    edges = _edges(run, rec, t0, source)
    windows = run.fault_windows
    data_end = t0 + rec.data_end_s if has_data else t0
    rc = classify_recovery(t0, edges.t1, windows, impact=rec.onset_s is not None, has_data=has_data,
                           data_end=min(end, data_end))
    t_end = t0 + p.window_s
    late = [w for w in (windows or ())[:1] if w.start - t0 > 1.0]  # the first fault began after the injection
    if late:
        notes.append(f"the fault took effect {late[0].start - t0:.1f} s after the injection began (its action "
                     "reported a failure; the event log shows the effect): times still count from the injection")
    if windows is None and rc.kind == "recovered_unattributed":
        notes.append("no fault window recorded: self-healing cannot be told from the lift")
    if rc.kind == "not_recovered":
        notes.append(f"not recovered within {horizon:g} s (or before the data ends): TTR censored")
    if rc.kind == "recovered_after_lift":
        notes.append("recovered only after the fault was lifted: TTR (self-healing) censored at the lift")
    if rc.kind == "self_healed" and rc.t1 is not None and windows:
        lift = min((e for s, e in union(windows) if s <= rc.t1 < e), default=math.inf)
        if rc.t1 + p.sustain_s > lift:
            notes.append(f"availability held {lift - rc.t1:.1f} s before the lift, less than W = {p.sustain_s:g} s:"
                         " a longer fault would confirm the self-healing")
    if partial["partial"]:
        covers = "no data" if rec.data_end_s is None else f"{rec.data_end_s:g} s"
        notes.append(f"partial run ({partial['reason']}): figures cover {covers} of the {p.window_s:g} s window;"
                     " no resilience figure for a window it did not see")
    elif rec.data_end_s is not None and rec.data_end_s < p.window_s:
        notes.append(f"data ends {rec.data_end_s:g} s after injection, before the {p.window_s:g} s window")
    impact = (t0, rec.impact_end)
    window = (t0, min(t_end, data_end) if partial["partial"] else t_end)
    baseline = (start, t0)
    # an empty impact window (no impact) still has a latency: take the sustain window after t0
    latency_window = impact if rec.impact_end > t0 else (t0, t0 + max(p.sustain_s, p.dt))
    burn = window if p.burn_window == "analysis" else impact
    spans = [(max(s, t0), min(e, window[1])) for s, e in union(windows or (), window[1])] if windows else [impact]
    spans = [(s, e) for s, e in spans if e > s]
    during = availability_during(counts, spans)

    latency: dict[str, Any] = {"window": "impact" if rec.impact_end > t0 else "sustain",
                               "window_s": [latency_window[0] - t0, latency_window[1] - t0]}
    ledger: Ledger | None = None
    overload: Overload | None = None
    elastic: Elasticity | None = None
    if source == "request_log":
        lost_sessions: float | None = sessions_lost(run.requests, *window, time_col=p.time_col)
        br_sessions = blast_radius_sessions(run.requests, impact, window, time_col=p.time_col)
        inflation, why = ok_latency_inflation(run.requests, baseline, latency_window, p.quantile, p.time_col)
        latency.update(baseline=latency_by_outcome(run.requests, *baseline, time_col=p.time_col),
                       impact=latency_by_outcome(run.requests, *latency_window, time_col=p.time_col),
                       inflation_reason=why)
        if why:
            notes.append(f"p99 inflation: {why}")
        ledger = task_ledger(run.requests, run.executions, _loss_spans(windows, run.events, window[1], impact))
        overload = overload_summary(run.requests, run.executions, t0, window, time_col=p.time_col)
        if run.agents is not None:
            lift = max((w.end for w in windows or () if w.end is not None), default=None)
            elastic = elasticity_summary(run.requests, run.events, t0, window, agents_start=run.agents,
                                         policy=run.autoscale, baseline=baseline, lift=lift, dt=p.dt, eps=p.eps,
                                         sustain_s=p.sustain_s, time_col=p.time_col)
            overload = overload.with_scaling(elastic.scale_ups + elastic.scale_downs > 0 if run.autoscale else None,
                                             elastic.text if run.autoscale else None)
    else:
        lost_sessions = sessions_lost_from_series(run.series, *window)
        br_sessions = None
        inflation = None
        latency.update(baseline=None, impact=None,
                       inflation_reason="series source: the client histogram does not separate successes from "
                                        "failures, so no service latency")
        notes.append("series source: blast_radius_sessions, the ledger, overload and service latency need the "
                     "request log")

    ttd = None
    if run.events is not None and not run.events.empty:
        ttd = time_to_detect(
            run.events, t0, victims=run.victims, victim_regions=run.victim_regions, window_s=p.window_s
        )
    if ttd is None:
        notes.append("no member_dead event for a victim: TTD unknown")

    tol = 0.1 if source == "request_log" and p.resolution == "request" else max(0.1, p.dt)
    mech = identify_mechanism(rc, t0, events=run.events, requests=run.requests, executions=run.executions,
                              bounds=_mechanism_bounds(run), sustain_s=p.sustain_s, tolerance_s=tol,
                              time_col=p.time_col)
    if mech.violated:
        notes.append(f"TTR {mech.measured_s:.2f} s beats the {mech.kind} bound {mech.bound_s:.2f} s "
                     f"({mech.rule}): check clocks, or the recovery came from another mechanism")
    sessions = _sessions_bound(run, ledger, t0, window[1]) if ledger is not None else None
    if sessions is not None and sessions.flagged:
        notes.append(f"sessions lost beyond their bound: {sessions.text}")
    if ledger is not None and ledger.lost_writes_outside_fault:
        notes.append(f"{ledger.lost_writes_outside_fault} acknowledged session write(s) lost while no fault was "
                     "active: a defect of the deployment")

    lost = lost_tasks(counts, *impact)
    m_lat = latency.get("impact") or {}
    b_lat = latency.get("baseline") or {}
    metrics: dict[str, Any] = {
        "availability_baseline": rec.baseline,
        "availability_min": rec.availability_min,
        "availability_during_fault": during["value"],
        "impact_onset_s": edges.onset_s,
        "ttd_s": ttd,
        "ttr_s": rc.ttr_s if rc.kind in ("self_healed", "no_impact") else
        (rc.returned_s if rc.kind == "recovered_unattributed" else None),
        "recovered": rc.kind in ("self_healed", "no_impact", "recovered_unattributed"),
        "recovery": rc.kind,
        "ttr_after_lift_s": rc.ttr_after_lift_s,
        "returned_s": rc.returned_s,
        "fault_s": rc.fault_s,
        "depth": rec.depth,
        "resilience_loss": rec.resilience_loss,
        "resilience": None if partial["partial"] else rec.resilience,
        "lost_tasks": int(round(lost)) if source == "request_log" else lost,
        "sessions_lost": lost_sessions,
        "p99_inflation": inflation,
        "p99_ok_s": (m_lat.get("ok") or {}).get("p99"),
        "p99_ok_baseline_s": (b_lat.get("ok") or {}).get("p99"),
        "time_to_fail_p99_s": (m_lat.get("time_to_fail") or {}).get("p99"),
        "timeouts": (m_lat.get("timeout") or {}).get("n"),
        "rejected_tasks": overload.rejected if overload is not None else None,
        "queued_tasks": overload.queued if overload is not None else None,
        "agents_added": elastic.agents_added if elastic is not None and elastic.policy else None,
        "agents_removed": elastic.agents_removed if elastic is not None and elastic.policy else None,
        "time_to_absorb_s": elastic.absorbed_s if elastic is not None else None,
        "blast_radius_regions": blast_radius_regions(regions, *impact, p.slo),
        "blast_radius_sessions": br_sessions,
        "budget_burn": budget_burn(counts, *burn, p.slo),
        "lost_writes": ledger.lost_writes if ledger is not None else None,
        "duplicated_tasks": ledger.classes["duplicated"] if ledger is not None else None,
        "indeterminate_tasks": ledger.classes["indeterminate"] if ledger is not None else None,
    }
    restart_bound, _ = mechanism_bound("restart", _mechanism_bounds(run), ())
    bounds: dict[str, Any] = {
        "detection": run.detection.to_dict() if run.detection else None,
        "restart_delay_s": run.restart_delay_s,
        "failover_delay_s": run.failover_delay_s,
        "client_timeout_s": run.client_timeout_s,
        "restart_bound_s": restart_bound,
        "mechanism": mech.to_dict(),
        "violated": bool(mech.violated),
    }
    recovery = _recovery_dict(rc, mech, horizon, t0, during)
    return RunMetrics(
        run_id=run.run_id,
        topology=run.topology,
        repeat=run.repeat,
        status=run.status,
        source=source,
        injected_at=t0,
        request_log=run.request_log_path,
        metrics=metrics,
        bounds=bounds,
        params=p.to_dict(),
        intensity=run.intensity,
        notes=tuple(notes),
        recovery=recovery,
        fault_windows=tuple(w.to_dict() for w in windows or ()),
        latency=latency,
        ledger=ledger.to_dict() if ledger is not None else None,
        overload=overload.to_dict() if overload is not None else None,
        elasticity=elastic.to_dict() if elastic is not None else None,
        sessions=sessions.to_dict() if sessions is not None else None,
        partial=partial,
        control=run.control,
    )


_MECHANISM_WORDS = {"failover": "failover", "restart": "restart by the orchestrator",
                    "replacement": "replacement spawned by peers", "standby_takeover": "warm standby took over"}


def _recovery_dict(rc: RecoveryClass, mech: Mechanism, horizon: float, t0: float,
                   during: dict[str, Any]) -> dict[str, Any]:
    words = _MECHANISM_WORDS.get(mech.kind) if rc.kind == "self_healed" else None
    return {
        "kind": rc.kind,
        "text": recovery_text(rc, window_s=horizon, mechanism=words),
        "mechanism": mech.kind,
        "t1": rc.t1,
        "lift_at": rc.lift_at,
        "lift_s": None if rc.lift_at is None else rc.lift_at - t0,
        "availability_during_fault": during,
    }
