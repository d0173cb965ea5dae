"""Cost of a run: provisioned against busy agent-seconds, utilisation over time, cost per 1,000 successful tasks.

Pure functions over the ground truth: the execution log (``core.logs`` EXECUTION_COLUMNS: one row per task an
agent ran, with ``start`` and ``end``), the request log's outcomes and what was provisioned (agents per region and
task slots per agent). A busy agent-second is one agent with all of its slots working for a second, so
``busy = sum(task durations) / slots per agent``; utilisation is busy over provisioned. Cost counts what was
provisioned (a cloud bills the machine, not the work): ``provisioned agent-hours x price``, with a price per
region when given. Provisioning follows the autoscaler: the topology's agents, moved by each ``scaled_up`` /
``scaled_down`` step from its time on (analysis/elasticity.py). What this does not cover: hubs (control-plane
processes beyond the agents), replacements spawned by healing and nodes dark in a fault (counted as provisioned
as the topology had them), the network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analysis.elasticity import ScaleStep, provisioned_agent_seconds

__all__ = ["CostReport", "busy_slot_seconds", "utilisation_over_time", "run_cost"]


@dataclass(frozen=True)
class CostReport:
    window_s: float
    provisioned_agent_s: float
    busy_agent_s: float
    utilisation: float | None
    ok_tasks: int
    cost: float
    cost_per_1000_ok: float | None
    price_per_agent_hour: float
    per_region: dict[str, dict[str, float | None]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _clip(executions: pd.DataFrame, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
    s = executions["start"].to_numpy(dtype=float)
    e = executions["end"].to_numpy(dtype=float)
    ok = np.isfinite(s) & np.isfinite(e) & (e > s)
    return np.clip(s[ok], start, end), np.clip(e[ok], start, end)


def busy_slot_seconds(executions: pd.DataFrame, start: float, end: float) -> float:
    """Seconds of task work inside ``[start, end)`` (a task straddling an edge counts for its part inside)."""
    s, e = _clip(executions, start, end)
    return float(np.sum(e - s))


def utilisation_over_time(executions: pd.DataFrame, start: float, end: float, slots: float,
                          bin_s: float = 1.0) -> pd.DataFrame:
    """Per bin: busy slot-seconds over the slots' seconds (columns ``t`` seconds from ``start``, ``utilisation``)."""
    edges = np.arange(start, end + bin_s * 0.5, bin_s)
    if len(edges) < 2:
        edges = np.array([start, end])
    s, e = _clip(executions, start, end)
    busy = np.array([np.sum(np.clip(np.minimum(e, hi) - np.maximum(s, lo), 0, None))
                     for lo, hi in zip(edges[:-1], edges[1:], strict=True)])
    width = np.diff(edges)
    util = busy / (width * slots) if slots > 0 else np.full(len(width), np.nan)
    return pd.DataFrame({"t": edges[:-1] - start, "utilisation": util})


def run_cost(executions: pd.DataFrame, requests: pd.DataFrame, *, start: float, end: float,
             agents_per_region: Mapping[str, int], slots_per_agent: float, price_per_agent_hour: float = 1.0,
             region_prices: Mapping[str, float] | None = None, steps: Sequence[ScaleStep] = ()) -> CostReport:
    """The cost figures of one run over ``[start, end)``; requests count as successful when ``outcome == ok``
    and they started inside the window. ``region_prices`` overrides the price for the regions it names; ``steps``
    (the autoscaler's) move the provisioned agents over time."""
    window = max(0.0, end - start)
    provisioned_s = provisioned_agent_seconds(agents_per_region, steps, start, end)
    prices = {r: float((region_prices or {}).get(r, price_per_agent_hour)) for r in provisioned_s}
    per_region: dict[str, dict[str, float | None]] = {}
    cost = 0.0
    provisioned = busy = 0.0
    for region, prov in provisioned_s.items():
        part = executions[executions["region"].astype(str) == region] if "region" in executions else executions[:0]
        b = busy_slot_seconds(part, start, end) / slots_per_agent
        c = prov / 3600 * prices[region]
        per_region[region] = {"provisioned_agent_s": prov, "busy_agent_s": b,
                              "utilisation": b / prov if prov > 0 else None, "cost": c,
                              "price_per_agent_hour": prices[region]}
        provisioned, busy, cost = provisioned + prov, busy + b, cost + c
    ts = requests["ts"].to_numpy(dtype=float)
    ok = int(((requests["outcome"].astype(str) == "ok").to_numpy() & (ts >= start) & (ts < end)).sum())
    notes = []
    if executions.empty:
        notes.append("no execution log rows: busy time and utilisation are unknown, not zero")
    return CostReport(
        window_s=window, provisioned_agent_s=provisioned, busy_agent_s=busy,
        utilisation=busy / provisioned if provisioned > 0 and not executions.empty else None,
        ok_tasks=ok, cost=cost, cost_per_1000_ok=cost / ok * 1000 if ok else None,
        price_per_agent_hour=float(price_per_agent_hour), per_region=per_region, notes=notes)
