"""The emergency stop, acted out: set the stop file, revert every active fault in every running lab, and
report the experiments that are aborting. The command line (``aftershock stop``) and the dashboard's stop
button call these functions; the stop file itself lives in ``core.stop``.

Why both a file and direct heals: the file is the signal every process honours (the lab supervisors revert
their faults and refuse new ones on their own, runners abort, the scheduler refuses), so a stop works even
when this process cannot reach a lab; the direct heal through each lab's control API makes the common case
fast (one round trip, in parallel over the labs) and lets the caller report what was reverted, lab by lab.
Stored targets of the other engines (Kubernetes: ``aftershock target add``) are healed in the same pass, through
their engine's ``heal`` (``engines.heal_targets``: chaos objects deleted, nodes uncordoned).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from core.audit import record
from core.engine import Engine
from core.errors import AftershockError
from core.settings import Settings
from core.stop import StopState, clear_stop, set_stop, stop_state
from core.wait import wait_until
from engines import heal_targets
from engines.targets import list_target_names
from fleet.engine import LabEngine
from fleet.lab import list_labs
from store import RunStore, StoreError

__all__ = ["LabHeal", "StopReport", "ClearReport", "emergency_stop", "clear_emergency_stop", "running_runs",
           "HEAL_TIMEOUT_S", "current_stop"]

log = logging.getLogger("aftershock.chaos.emergency")

#: How long one lab's heal may take over its control API (restarting killed nodes is the slow part).
HEAL_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class LabHeal:
    """What the stop did to one lab: ``ok`` and the heal's own report, or the ``error``."""

    lab: str
    ok: bool
    seconds: float
    result: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


@dataclass(frozen=True)
class StopReport:
    """The stop in force, each lab healed, and the runs still running when the report was made."""

    state: StopState
    labs: list[LabHeal]
    seconds: float
    runs_aborting: list[dict[str, Any]] = field(default_factory=list)
    runs_ended: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"stopped": True, "since": self.state.since, "who": self.state.who, "reason": self.state.reason,
                "seconds": round(self.seconds, 3),
                "labs": [{"lab": h.lab, "ok": h.ok, "seconds": round(h.seconds, 3), "result": h.result,
                          "error": h.error} for h in self.labs],
                "runs_aborting": self.runs_aborting, "runs_ended": self.runs_ended}


@dataclass(frozen=True)
class ClearReport:
    cleared: StopState | None
    who: str


def _lab_engines(settings: Settings, timeout_s: float) -> list[Engine]:
    engines: list[Engine] = []
    for state in list_labs(settings):
        try:
            engines.append(LabEngine(settings, state["name"], status=state, timeout_s=timeout_s))
        except (AftershockError, OSError, KeyError) as exc:  # a lab going down right now
            log.warning("emergency stop: cannot reach lab %s: %s", state.get("name"), exc)
    return engines


def _heal(engine: Engine, settings: Settings) -> LabHeal:
    started = time.monotonic()
    try:
        result = engine.heal()
        return LabHeal(engine.name, True, time.monotonic() - started, result=result)
    except (AftershockError, OSError) as exc:
        if not any(lab["name"] == engine.name for lab in list_labs(settings)):
            # brought down meanwhile (its run aborted on the stop file and tore it down): no fault is left in it
            return LabHeal(engine.name, True, time.monotonic() - started, result={"lab": "down"})
        return LabHeal(engine.name, False, time.monotonic() - started, error=str(exc))


def _heal_targets(settings: Settings) -> list[LabHeal]:
    """Every stored target healed by its engine (each reported, an unreachable one with its error)."""
    started = time.monotonic()
    out = []
    for result in heal_targets(settings):
        name = f"target {result.get('target', '?')}"
        error = result.get("error")
        out.append(LabHeal(name, error is None, time.monotonic() - started, result=result, error=error))
    return out


def running_runs(settings: Settings) -> list[dict[str, Any]]:
    """Runs whose writer is alive and still running (``run_id``, ``experiment``, ``topology``)."""
    if not (settings.store_dir / "runs.sqlite").exists():
        return []
    try:
        with RunStore.open(settings.store_dir, readonly=True) as store:
            frame = store.list_runs(status="running")
    except (StoreError, AftershockError) as exc:
        log.warning("emergency stop: cannot read the run store: %s", exc)
        return []
    return [{"run_id": r.run_id, "experiment": r.experiment, "topology": r.topology}
            for r in frame.itertuples(index=False)]


def _final_statuses(settings: Settings, run_ids: list[str]) -> list[dict[str, Any]]:
    if not run_ids:
        return []
    with RunStore.open(settings.store_dir, readonly=True) as store:
        return [{"run_id": rid, "status": store.get_run(rid)["status"]} for rid in run_ids]


def emergency_stop(settings: Settings, who: str, reason: str = "", *, wait_runs_s: float = 0.0,
                   heal_timeout_s: float = HEAL_TIMEOUT_S,
                   engines: Callable[[Settings, float], list[Engine]] = _lab_engines) -> StopReport:
    """Stop everything: the stop file first (nothing new starts), then every lab healed in parallel.

    With ``wait_runs_s`` > 0, waits that long for the running experiments to end (they abort and run their
    rollbacks on their own when they see the stop file) and reports their final status.
    """
    started = time.monotonic()
    before = stop_state(settings.home)
    state = set_stop(settings.home, who, reason)
    created = before is None or before.who == "unknown"  # else in force already (`aftershock stop` wrote it first)
    targets = engines(settings, heal_timeout_s)
    with ThreadPoolExecutor(max_workers=max(2, min(16, len(targets) + 1))) as pool:
        stored = pool.submit(_heal_targets, settings) if list_target_names(settings) else None
        heals = list(pool.map(lambda engine: _heal(engine, settings), targets))
        if stored is not None:
            heals += stored.result()
    elapsed = time.monotonic() - started
    outcome = {h.lab: ("healed" if h.ok else f"failed: {h.error}") for h in heals}
    if created:
        record(settings.home, "stop", who, target="all", reason=state.reason, since=state.since,
               seconds=round(elapsed, 3), labs=outcome)
    else:  # the stop itself is already in the log: this is the direct heal of every lab that follows it
        record(settings.home, "rollback", who, target="all", reason="emergency stop", since=state.since,
               stop_by=state.who, seconds=round(elapsed, 3), labs=outcome)
    for heal in heals:
        log.info("emergency stop: lab %s %s in %.2f s", heal.lab, "healed" if heal.ok else "NOT healed",
                 heal.seconds)
    aborting = running_runs(settings)
    ended: list[dict[str, Any]] = []
    if aborting and wait_runs_s > 0:
        ids = [r["run_id"] for r in aborting]

        def done() -> bool:
            still = {r["run_id"] for r in running_runs(settings)}
            return not still.intersection(ids)

        try:
            wait_until(done, wait_runs_s, interval_s=0.2, what="running experiments to abort")
        except TimeoutError:
            log.warning("emergency stop: runs still running after %.0f s", wait_runs_s)
        ended = _final_statuses(settings, ids)
    return StopReport(state=state, labs=heals, seconds=elapsed, runs_aborting=aborting, runs_ended=ended)


def clear_emergency_stop(settings: Settings, who: str) -> ClearReport:
    """Remove the stop file (runs and chaos are allowed again); audited even when there was no stop."""
    cleared = clear_stop(settings.home)
    record(settings.home, "clear", who, target="all",
           cleared=None if cleared is None else {"since": cleared.since, "who": cleared.who})
    return ClearReport(cleared=cleared, who=who)


def current_stop(settings: Settings) -> StopState | None:
    return stop_state(settings.home)
