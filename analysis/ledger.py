"""The task ledger, in Jepsen's discipline: every task classified from both sides, the client's and the agents'.

The client's request log says what the client saw (ok, error, timeout); the agents' execution log says what was
actually run, and by whom. Joined on the task id, each task falls in exactly one class, so the classes add up to
the request log's rows (as Jepsen's ``total-queue`` checker accounts for every enqueued element):

- ``ok``: acknowledged and run exactly once;
- ``duplicated``: run two or more times (a retry after a timeout, a gateway's second try), whatever the client saw;
- ``failed``: the client got an error and no agent ran it (a definite failure);
- ``rejected``: shed by a saturated deployment (HTTP 429) and no agent ran it: overload, not breakage, and a
  retry is safe (counted apart from failures, as the load-shedding literature and every gateway do);
- ``indeterminate``: the client timed out and at most one agent ran it (the client cannot know which; the ledger
  does: ``indeterminate_executed`` / ``indeterminate_not_executed``);
- ``unacknowledged``: the client got an error (or a rejection) but an agent ran it once (it was not definite);
- ``phantom``: the client got ok but no execution was recorded (the execution log is missing rows).

Session memory, as Jepsen's ``set-full`` checks every acknowledged element is read back: a write acknowledged to
the client (every ``ok`` task: a task is a turn that advances its session's memory, written by the agent in a mesh
or by the hub behind a gateway) must be seen by the next answer of its session (``session_ok`` 1). A read that did
not see it is a *lost write* (or a stale read: the request log cannot tell them apart) unless a task of the session
that ran without the client knowing (timed out, errored) explains the mismatch, a memory *ahead* of the client,
counted apart. A loss whose interval (from the write's acknowledgement to the read) meets no fault window is a
defect of the deployment, since nothing was broken.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["LEDGER_CLASSES", "Ledger", "LostWrite", "task_ledger", "lost_writes"]

LEDGER_CLASSES = ("ok", "duplicated", "failed", "rejected", "indeterminate", "unacknowledged", "phantom")


@dataclass(frozen=True)
class LostWrite:
    """An acknowledged write the next answer of its session did not see."""

    session: str
    task: str
    acknowledged_at: float
    read_task: str
    read_at: float
    during_fault: bool


@dataclass(frozen=True)
class Ledger:
    """The task ledger of one run (counts over the whole request log given)."""

    tasks: int
    classes: dict[str, int]
    indeterminate_executed: int
    indeterminate_not_executed: int
    executions: int
    orphan_executions: int
    untracked_requests: int
    writes_acknowledged: int
    lost_writes: int
    sessions_with_lost_writes: int
    lost_writes_outside_fault: int
    memory_ahead: int
    latency: dict[str, dict[str, Any]]
    properties: dict[str, bool | None]
    losses: tuple[LostWrite, ...] = field(default_factory=tuple)
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self, *, max_losses: int = 50) -> dict[str, Any]:
        """JSON-ready; at most ``max_losses`` lost writes are listed (their count is always whole)."""
        out = asdict(self)
        out["losses"] = [asdict(x) for x in self.losses[:max_losses]]
        out["notes"] = list(self.notes)
        return out


def _quantiles(values: np.ndarray) -> dict[str, Any]:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return {"n": 0, "p50": None, "p99": None}
    return {"n": int(values.size), "p50": float(np.quantile(values, 0.5)), "p99": float(np.quantile(values, 0.99))}


def _in_windows(a: np.ndarray, b: np.ndarray, windows: Sequence[tuple[float, float]]) -> np.ndarray:
    """Whether each interval [a, b] meets one of ``windows``."""
    hit = np.zeros(a.size, dtype=bool)
    for s, e in windows:
        hit |= (a < e) & (b >= s)
    return hit


def task_ledger(requests: pd.DataFrame, executions: pd.DataFrame | None,
                fault_windows: Sequence[tuple[float, float]] = ()) -> Ledger:
    """Classify every task of ``requests`` against ``executions`` (both in core.logs' formats).

    Requests without a task id (logs older than the column) are counted as ``untracked_requests`` and left out
    of the classes. Executions of task ids the request log does not hold (a task still in flight when the log
    was cut, or one from before the run's slice) are ``orphan_executions``.
    """
    notes: list[str] = []
    req = requests.copy()
    tid = req["task"].astype(str) if "task" in req.columns else pd.Series([""] * len(req), index=req.index)
    tracked = tid.str.len() > 0
    untracked = int((~tracked).sum())
    if untracked:
        notes.append(f"{untracked} requests carry no task id: left out of the ledger")
    req = req.assign(task=tid)[tracked.to_numpy()]
    if executions is None:
        notes.append("no execution log: the agents' side is unknown, classes from the client's side only")
        ex = pd.DataFrame({"task": pd.Series([], dtype=str)})
    else:
        ex = executions.assign(task=executions["task"].astype(str))
    runs = ex.groupby("task").size() if not ex.empty else pd.Series(dtype="int64")
    n_exec = req["task"].map(runs).fillna(0).astype(int).to_numpy()
    outcome = req["outcome"].astype(str).to_numpy()
    known = executions is not None
    cls = np.full(len(req), "ok", dtype=object)
    if known:
        cls[(outcome == "ok") & (n_exec == 0)] = "phantom"
        cls[(outcome == "error") & (n_exec == 0)] = "failed"
        cls[(outcome == "rejected") & (n_exec == 0)] = "rejected"
        cls[np.isin(outcome, ["error", "rejected"]) & (n_exec == 1)] = "unacknowledged"
        cls[(outcome == "timeout") & (n_exec <= 1)] = "indeterminate"
        cls[n_exec >= 2] = "duplicated"
    else:
        cls[outcome == "error"] = "failed"
        cls[outcome == "rejected"] = "rejected"
        cls[outcome == "timeout"] = "indeterminate"
    classes = {c: int((cls == c).sum()) for c in LEDGER_CLASSES}
    orphan = int((~ex["task"].isin(set(req["task"]))).sum()) if not ex.empty else 0
    lat = req["latency_s"].to_numpy(dtype=float) if "latency_s" in req.columns else np.full(len(req), np.nan)
    latency = {c: _quantiles(lat[cls == c]) for c in LEDGER_CLASSES}
    latency["stable"] = _quantiles(lat[np.isin(cls, ["ok", "duplicated"]) & (outcome == "ok")])
    latency["lost"] = _quantiles(lat[np.isin(cls, ["failed", "indeterminate", "unacknowledged"])])
    losses, acked, ahead = lost_writes(req, ex if known else None, fault_windows)
    props: dict[str, bool | None] = {
        "no_acknowledged_write_lost": (len(losses) == 0) if "session_ok" in req.columns else None,
        "no_duplicates": classes["duplicated"] == 0 if known else None,
        "no_phantom_acknowledgements": classes["phantom"] == 0 if known else None,
        "no_loss_without_fault": not any(not x.during_fault for x in losses),
    }
    return Ledger(
        tasks=len(req), classes=classes,
        indeterminate_executed=int(((cls == "indeterminate") & (n_exec == 1)).sum()) if known else 0,
        indeterminate_not_executed=int(((cls == "indeterminate") & (n_exec == 0)).sum()) if known else 0,
        executions=int(len(ex)), orphan_executions=orphan, untracked_requests=untracked,
        writes_acknowledged=acked, lost_writes=len(losses),
        sessions_with_lost_writes=len({x.session for x in losses}),
        lost_writes_outside_fault=sum(not x.during_fault for x in losses), memory_ahead=ahead,
        latency=latency, properties=props, losses=tuple(losses), notes=tuple(notes))


def lost_writes(requests: pd.DataFrame, executions: pd.DataFrame | None,
                fault_windows: Sequence[tuple[float, float]] = ()) -> tuple[list[LostWrite], int, int]:
    """(lost writes, acknowledged writes, answers whose memory was ahead of the client), per session in order of
    request start. Every ok answer is an acknowledged write: each task is a turn that advances its session's
    memory, whoever wrote it (an agent in a mesh, the hub behind a gateway, whose agents log ``session_write``
    0). ``executions`` None: nothing can be known to be ahead."""
    if requests.empty or "session_ok" not in requests.columns or "session" not in requests.columns:
        return [], 0, 0
    req = requests.sort_values(["session", "ts"], kind="mergesort")
    ran: set[str] = set(executions["task"].astype(str)) if executions is not None and not executions.empty else set()
    session = req["session"].astype(str).to_numpy()
    task = req["task"].astype(str).to_numpy() if "task" in req.columns else np.full(len(req), "", dtype=object)
    outcome = req["outcome"].astype(str).to_numpy()
    start = req["ts"].to_numpy(dtype=float)
    end = req["end"].to_numpy(dtype=float)
    seen = pd.to_numeric(req["session_ok"], errors="coerce").to_numpy(dtype=float)
    losses: list[LostWrite] = []
    acked = ahead = 0
    last_write: int | None = None  # index of the session's last acknowledged write
    unacked_ran = False  # a task of the session ran since that write without the client knowing
    for i in range(len(req)):
        if i == 0 or session[i] != session[i - 1]:
            last_write, unacked_ran = None, False
        if outcome[i] != "ok":
            if task[i] in ran:
                unacked_ran = True
            continue
        if last_write is not None and seen[i] == 0:
            if unacked_ran:
                ahead += 1
            else:
                j = last_write
                losses.append(LostWrite(str(session[i]), str(task[j]), float(end[j]), str(task[i]), float(start[i]),
                                        bool(_in_windows(np.array([end[j]]), np.array([start[i]]),
                                                         fault_windows)[0])))
        acked += 1  # every task is a turn of its session: an acknowledged answer is an acknowledged write
        last_write, unacked_ran = i, False
    return losses, acked, ahead
