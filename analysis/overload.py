"""What a deployment did when asked more than it could serve: shed, queued, or scaled, and when.

From the ground truth only: the request log's ``rejected`` outcome (the deployment answered 429: nothing ran) and
the execution log's ``queued_s`` (how long a task waited for a slot before it started). Scaling needs an
autoscaling policy (``autoscale`` in the topology; analysis/elasticity.py measures it); without one the summary
says so rather than report "did not scale" as a finding about the deployment.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Overload", "overload_summary", "QUEUED_MIN_S"]

NO_POLICY = "no autoscaling policy, so no scaling to measure"
#: A task that waited less than this for its slot is counted as not queued (scheduling noise, not a queue).
QUEUED_MIN_S = 0.005


@dataclass(frozen=True)
class Overload:
    """Shedding and queueing over one run's analysis window (times relative to the injection)."""

    requests: int
    rejected: int
    rejected_share: float | None
    first_rejected_s: float | None
    queued: int | None  # None: no execution log, or one without the queued_s column
    queue_wait_p99_s: float | None
    queue_wait_max_s: float | None
    first_queued_s: float | None
    scaled: bool | None  # None: no autoscaling policy to judge
    text: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def with_scaling(self, scaled: bool | None, said: str | None) -> Overload:
        """The summary with what the autoscaler did (analysis/elasticity.py) in place of "no policy"."""
        if scaled is None:
            return self
        text = self.text.replace(NO_POLICY, said or ("scaled" if scaled else "did not scale"))
        return replace(self, scaled=scaled, text=text)


def _share(n: int, total: int) -> str:
    return f"{n:,} of {total:,} tasks ({100.0 * n / total:.1f} %)" if total else f"{n:,} tasks"


def overload_summary(requests: pd.DataFrame, executions: pd.DataFrame | None, t0: float,
                     window: tuple[float, float], *, time_col: str = "end") -> Overload:
    """Count shed and queued tasks in ``window`` (absolute seconds), and say it in one sentence."""
    lo, hi = window
    t = requests[time_col].to_numpy(dtype=float)
    part = requests[(t >= lo) & (t < hi)]
    outcome = part["outcome"].astype(str).to_numpy()
    shed = part[outcome == "rejected"]
    first_shed = float(shed["ts"].min()) - t0 if len(shed) else None

    queued = wait_p99 = wait_max = first_queued = None
    # an execution log older than the column loads it all empty: queueing is then unknown, never "none"
    if executions is not None and "queued_s" in executions.columns and (
            executions.empty or executions["queued_s"].notna().any()):
        start = executions["start"].to_numpy(dtype=float)
        ex = executions[(start >= lo) & (start < hi)]
        waited = ex[ex["queued_s"].to_numpy(dtype=float) >= QUEUED_MIN_S]
        queued = int(len(waited))
        if queued:
            w = waited["queued_s"].to_numpy(dtype=float)
            wait_p99, wait_max = float(np.quantile(w, 0.99)), float(w.max())
            first_queued = float((waited["start"] - waited["queued_s"]).min()) - t0

    total = int(len(part))
    said: list[str] = []
    if len(shed):
        said.append(f"shed {_share(len(shed), total)}, the first {first_shed:+.1f} s from the injection")
    if queued:
        said.append(f"queued {queued:,} (longest wait {wait_max:.2f} s, p99 {wait_p99:.2f} s), the first "
                    f"{first_queued:+.1f} s from the injection")
    if len(shed) and queued == 0:
        said.append("queued nothing")
    if not said:
        said.append("neither shed nor queued" if queued is not None else "shed nothing")
    if queued is None:
        said.append("queueing unknown (no execution log with queued_s)")
    said.append(NO_POLICY)
    return Overload(
        requests=total,
        rejected=int(len(shed)),
        rejected_share=len(shed) / total if total else None,
        first_rejected_s=first_shed,
        queued=queued,
        queue_wait_p99_s=wait_p99,
        queue_wait_max_s=wait_max,
        first_queued_s=first_queued,
        scaled=None,
        text="; ".join(said),
    )
