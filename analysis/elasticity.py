"""Elasticity: what an autoscaling deployment added and took away, when, and how long it took to absorb a surge.

Ground truth only. Capacity changes come from the lab's event log (``scaled_up`` / ``scaled_down``, emitted by
the lab when the nodes an orchestrator asked for have started or stopped: the provisioning itself, not the
decision); service from the request log. **Time to absorb**: from the injection (the surge or the fault) to the
first moment from which, for a sustained window, every bin has availability within ``eps`` of its baseline *and*
the p99 latency of successful requests within :data:`P99_SLO_FACTOR` of its baseline p99; availability counts
shed tasks (429) as unserved, as the client saw them. Absorbed before the fault was lifted means the deployment
absorbed it (scaling, queueing, forwarding); after, only the lift ended it.
What this does not cover: replacements and restarts (healing, not scaling), and hubs (control-plane processes).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ScaleStep", "Elasticity", "scale_steps", "agents_over_time", "provisioned_agent_seconds",
           "time_to_absorb", "elasticity_summary", "P99_SLO_FACTOR"]

#: p99 of successful requests counts as back within its SLO at or below this multiple of its baseline p99
P99_SLO_FACTOR = 1.5


@dataclass(frozen=True)
class ScaleStep:
    """One provisioning change: ``delta`` agents (+ added, - removed) in ``region`` at ``ts`` (Unix seconds)."""

    ts: float
    region: str
    delta: int
    nodes: tuple[str, ...] = ()
    by: str | None = None
    decided_at: float | None = None  # when the orchestrator decided (``ts``: when the lab had done it)


def scale_steps(events: pd.DataFrame | None) -> list[ScaleStep]:
    """The ``scaled_up`` / ``scaled_down`` events of an event log frame (store.load_events), in time order."""
    if events is None or events.empty:
        return []
    steps = []
    for row in events[events["kind"].isin(["scaled_up", "scaled_down"])].itertuples(index=False):
        detail = row.detail if isinstance(row.detail, dict) else {}
        sign = 1 if row.kind == "scaled_up" else -1
        decided = detail.get("decided_at")
        steps.append(ScaleStep(float(row.ts), str(row.region), sign * int(detail.get("agents", 0)),
                               tuple(detail.get("nodes") or ()), row.by if isinstance(row.by, str) else None,
                               float(decided) if decided is not None else None))
    return sorted(steps, key=lambda s: s.ts)


def agents_over_time(start_agents: int, steps: Sequence[ScaleStep]) -> list[tuple[float, int]]:
    """The provisioned agent count as steps: (time of the change, agents from then on)."""
    out, agents = [], start_agents
    for step in steps:
        agents += step.delta
        out.append((step.ts, agents))
    return out


def provisioned_agent_seconds(agents_per_region: Mapping[str, int], steps: Sequence[ScaleStep], start: float,
                              end: float) -> dict[str, float]:
    """Agent-seconds provisioned per region over ``[start, end)``: the topology's agents, moved by each step
    from its time on (a step before ``start`` counts for the whole window)."""
    out: dict[str, float] = {}
    regions = list(agents_per_region) + sorted({s.region for s in steps} - set(agents_per_region))
    for region in regions:
        agents, t, total = float(agents_per_region.get(region, 0)), start, 0.0
        for step in (s for s in steps if s.region == region):
            if step.ts <= start:
                agents += step.delta
                continue
            if step.ts >= end:
                break
            total += agents * (step.ts - t)
            agents, t = agents + step.delta, step.ts
        out[region] = total + agents * max(0.0, end - t)
    return out


def _bins(requests: pd.DataFrame, lo: float, hi: float, dt: float, time_col: str) -> pd.DataFrame:
    t = requests[time_col].to_numpy(dtype=float)
    part = requests[(t >= lo) & (t < hi)]
    idx = np.floor((part[time_col].to_numpy(dtype=float) - lo) / dt).astype(int)
    ok = (part["outcome"].astype(str) == "ok").to_numpy()
    n = max(1, int(math.ceil((hi - lo) / dt)))
    total = np.bincount(idx, minlength=n)[:n]
    good = np.bincount(idx[ok], minlength=n)[:n]
    latency = (part[time_col] - part["ts"]).to_numpy(dtype=float)
    p99 = np.full(n, np.nan)
    for b in np.unique(idx[ok]):
        if 0 <= b < n:
            p99[b] = np.quantile(latency[ok & (idx == b)], 0.99)
    with np.errstate(invalid="ignore", divide="ignore"):
        avail = np.where(total > 0, good / np.maximum(total, 1), np.nan)
    return pd.DataFrame({"t": lo + np.arange(n) * dt, "availability": avail, "p99": p99})


def time_to_absorb(requests: pd.DataFrame, t0: float, end: float, *, baseline: tuple[float, float],
                   dt: float = 1.0, eps: float = 0.01, sustain_s: float = 10.0, time_col: str = "end"
                   ) -> tuple[float | None, str]:
    """Seconds from ``t0`` to the start of the first sustained good window (both availability and p99 back),
    0 when service never left its SLO; None (with the reason) when it never came back or there is no baseline."""
    base = _bins(requests, baseline[0], baseline[1], dt, time_col)
    if base["availability"].notna().sum() == 0 or base["p99"].notna().sum() == 0:
        return None, "no baseline before the injection"
    a0 = float(np.nanmean(base["availability"]))
    b = requests[(requests[time_col] >= baseline[0]) & (requests[time_col] < baseline[1])
                 & (requests["outcome"].astype(str) == "ok")]
    p99_0 = float(np.quantile((b[time_col] - b["ts"]).to_numpy(dtype=float), 0.99))
    after = _bins(requests, t0, end, dt, time_col)
    good = ((after["availability"] >= a0 - eps) & (after["p99"] <= P99_SLO_FACTOR * p99_0)).to_numpy()
    need = max(1, int(round(sustain_s / dt)))
    if good.all():
        return 0.0, "service never left its SLO"
    first_bad = int(np.argmin(good))
    for i in range(first_bad + 1, len(good) - need + 1):
        if good[i:i + need].all():
            return float(after["t"].iloc[i] - t0), ""
    return None, f"availability and p99 not back within {P99_SLO_FACTOR:g}x baseline for {sustain_s:g} s"


@dataclass(frozen=True)
class Elasticity:
    """One run's scaling, relative to its injection: ``policy`` False means no autoscaling policy (nothing to
    judge, not "did not scale"); ``steps`` as [seconds from injection, agents from then on]."""

    policy: bool
    scale_ups: int
    scale_downs: int
    agents_added: int
    agents_removed: int
    agents_start: int
    agents_peak: int
    agents_end: int
    first_scale_up_s: float | None
    first_decision_s: float | None  # when the orchestrator decided the first scale-up (first_scale_up_s: serving)
    absorbed_s: float | None
    absorbed_before_lift: bool | None
    text: str
    steps: list[list[float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def elasticity_summary(requests: pd.DataFrame, events: pd.DataFrame | None, t0: float, window: tuple[float, float],
                       *, agents_start: int, policy: bool, baseline: tuple[float, float],
                       lift: float | None = None, dt: float = 1.0, eps: float = 0.01, sustain_s: float = 10.0,
                       time_col: str = "end") -> Elasticity:
    """Scaling in ``window`` (absolute seconds) and the time to absorb from ``t0``, said in one sentence."""
    lo, hi = window
    steps = [s for s in scale_steps(events) if s.ts < hi]
    before = sum(s.delta for s in steps if s.ts < lo)
    inside = [s for s in steps if s.ts >= lo]
    timeline = agents_over_time(agents_start + before, inside)
    counts = [agents_start + before] + [a for _, a in timeline]
    ups, downs = [s for s in inside if s.delta > 0], [s for s in inside if s.delta < 0]
    absorbed, why = time_to_absorb(requests, t0, hi, baseline=baseline, dt=dt, eps=eps, sustain_s=sustain_s,
                                   time_col=time_col)
    before_lift = None if absorbed is None or lift is None else t0 + absorbed < lift
    first_up = ups[0].ts - t0 if ups else None
    first_decision = ups[0].decided_at - t0 if ups and ups[0].decided_at is not None else None
    said = []
    if not policy:
        said.append("no autoscaling policy, so no scaling to measure")
    elif not inside:
        said.append("did not scale")
    else:
        if ups:
            decided = f" (decided {first_decision:+.1f} s)" if first_decision is not None else ""
            said.append(f"added {sum(s.delta for s in ups)} agents in {len(ups)} step(s), the first serving "
                        f"{first_up:+.1f} s from the injection{decided}")
        if downs:
            said.append(f"removed {-sum(s.delta for s in downs)} in {len(downs)} step(s)")
        said.append(f"{counts[0]} -> {max(counts)} -> {counts[-1]} agents")
    if absorbed is None:
        said.append(f"not absorbed ({why})")
    elif absorbed == 0:
        said.append("nothing to absorb: availability and p99 stayed within their SLO")
    else:
        when = "" if before_lift is None else (" while the fault was active" if before_lift else
                                               ", only after the fault was lifted")
        said.append(f"absorbed in {absorbed:.1f} s{when}")
    return Elasticity(
        policy=policy, scale_ups=len(ups), scale_downs=len(downs), agents_added=sum(s.delta for s in ups),
        agents_removed=-sum(s.delta for s in downs), agents_start=counts[0], agents_peak=max(counts),
        agents_end=counts[-1], first_scale_up_s=first_up, first_decision_s=first_decision, absorbed_s=absorbed,
        absorbed_before_lift=before_lift,
        text="; ".join(said), steps=[[round(t - t0, 3), a] for t, a in timeline],
    )
