"""Control runs (Netflix ChAP's idea): the same topology, seed and load with the fault replaced by a no-op.

Why: two topologies can differ by more than their bootstrap intervals only because runs on a shared laptop are
noisy. A control run measures that noise directly: what the figures look like when nothing was broken. A verdict
then says "clear" only when the difference between the two topologies' medians exceeds the run-to-run noise the
controls saw (the wider of the two topologies' control ranges), and each topology's fault effect is judged
against its own control.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from analysis.run import RunMetrics

__all__ = ["ControlNoise", "control_noise", "noise_by_topology", "fault_effects", "beyond_noise"]


@dataclass(frozen=True)
class ControlNoise:
    """One metric over one topology's control runs: median and range (the run-to-run noise)."""

    n: int
    median: float | None
    low: float | None
    high: float | None

    @property
    def spread(self) -> float | None:
        """high - low; None with fewer than two control runs (one run shows no noise)."""
        if self.n < 2 or self.low is None or self.high is None:
            return None
        return self.high - self.low

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "spread": self.spread}


def _value(run: RunMetrics, metric: str) -> float | None:
    m = run.metrics
    if metric == "budget_burn_rate":
        v = (m.get("budget_burn") or {}).get("rate")
    elif metric == "ttr_s" and m.get("recovered") is False:
        return math.inf
    else:
        v = m.get(metric)
    if v is None or isinstance(v, bool):
        return None
    v = float(v)
    return None if math.isnan(v) else v


def control_noise(runs: Sequence[RunMetrics], metric: str) -> ControlNoise:
    """Median and [min, max] of ``metric`` over control runs (censored TTRs count as +inf)."""
    values = [v for r in runs if (v := _value(r, metric)) is not None]
    if not values:
        return ControlNoise(0, None, None, None)
    return ControlNoise(len(values), float(np.median(values)), float(min(values)), float(max(values)))


def noise_by_topology(controls: Sequence[RunMetrics], metrics: Sequence[str]) -> dict[str, dict[str, ControlNoise]]:
    """topology -> metric -> the control noise of that metric."""
    out: dict[str, dict[str, ControlNoise]] = {}
    for topo in sorted({r.topology for r in controls}):
        mine = [r for r in controls if r.topology == topo]
        out[topo] = {m: control_noise(mine, m) for m in metrics}
    return out


def beyond_noise(diff: float, noise: Sequence[ControlNoise | None]) -> bool | None:
    """Whether a difference of medians exceeds every given control's spread; None when no spread is known."""
    spreads = [n.spread for n in noise if n is not None and n.spread is not None]
    if not spreads:
        return None
    widest = max(spreads)
    return bool(math.isinf(diff) or abs(diff) > widest) if not math.isinf(widest) else False


def fault_effects(medians: Mapping[str, Mapping[str, float | None]], noise: Mapping[str, Mapping[str, ControlNoise]],
                  metrics: Sequence[str]) -> list[dict[str, Any]]:
    """Per topology and metric: does the fault's median stand outside the control's range?"""
    out = []
    for topo in sorted(medians):
        for metric in metrics:
            med = medians[topo].get(metric)
            ctl = (noise.get(topo) or {}).get(metric)
            if med is None or ctl is None or ctl.n == 0:
                continue
            if ctl.n < 2:
                outcome = "insufficient_controls"
                text = f"{topo} {metric}: one control run shows no noise; run --control with --repeat 2 or more"
            elif ctl.low <= med <= ctl.high:
                outcome = "within_control_noise"
                text = f"{topo} {metric}: the fault's effect is within the control runs' range"
            else:
                outcome = "beyond_control_noise"
                text = f"{topo} {metric}: the fault moved it outside the control runs' range"
            out.append({"topology": topo, "metric": metric, "outcome": outcome, "fault_median": med,
                        "control": ctl.to_dict(), "text": text})
    return out
