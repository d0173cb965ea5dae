"""The dead-man switch of the lab: faults are bounded in time and die with the controller that made them.

Why in the supervisor: the process that injects a fault (the runner, a plain ``chaos run``) can be killed -9
or hang at any moment, and then nobody runs its rollbacks. The supervisor outlives it and knows every fault
it applied, so it is the one place that can promise "no fault outlives its controller".

- A controller opens a **lease** (``POST /lease``: holder, pid, run, ttl) before its first injection and renews
  it every ``period_s`` (``POST /lease/renew``); its fault calls carry the lease in :data:`LEASE_HEADER`.
  When the lease is not renewed for ``ttl_s`` (hung) or its pid is gone (killed), the supervisor reverts the
  faults made under it: within ``ttl_s`` + one :data:`PERIOD_S` tick, at most :data:`MAX_TTL_S` + 0.25 s.
- Every fault has a **maximum duration**: the lease's ``max_fault_s`` (from the experiment) capped by the
  lab's hard cap (``Settings.max_fault_s``, passed as ``--max-fault-s``); faults made without a lease get the
  cap. A fault older than that is reverted.
- The **emergency stop** file (``core.stop``): while it exists, injections are refused (HTTP 423) and any
  active fault is healed within one tick.

Every revert is written to the lab's event log (``deadman_healed``, ``fault_expired``, ``stop_healed``) and to
the audit log under ``$AFTERSHOCK_HOME`` (``core.audit``).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import secrets
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.audit import record
from core.logs import EventLog
from core.stop import stop_state
from fleet.supervisor.faults import Faults
from fleet.supervisor.records import ControlError, Roster
from fleet.topology import Topology

__all__ = ["DeadMan", "Lease", "Fault", "LEASE_HEADER", "ACTOR_HEADER", "PERIOD_S", "DEFAULT_TTL_S", "MAX_TTL_S",
           "INJECTING_PATHS"]

log = logging.getLogger("aftershock.fleet.supervisor.deadman")

LEASE_HEADER = "X-Aftershock-Lease"
ACTOR_HEADER = "X-Aftershock-Actor"
PERIOD_S = 0.25
DEFAULT_TTL_S = 2.0
MIN_TTL_S, MAX_TTL_S = 0.5, 4.0  # a dead controller's faults are reverted within 5 s, whatever it asked
STALL_S = 1.0  # a tick later than this after the previous one means the supervisor's loop was stalled
#: Control API paths that inject a fault (refused under an emergency stop); ``/link`` injects when it moves a
#: link away from the topology (a cut, loss, or more latency).
INJECTING_PATHS = frozenset({"/kill-node", "/kill-agent", "/kill-region", "/pause-node", "/throttle-node"})


@dataclass
class Lease:
    id: str
    holder: str
    pid: int | None
    run: str | None
    ttl_s: float
    max_fault_s: float
    renewed: float  # monotonic
    opened_at: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return {"lease": self.id, "holder": self.holder, "pid": self.pid, "run": self.run, "ttl_s": self.ttl_s,
                "max_fault_s": self.max_fault_s, "opened_at": self.opened_at}


@dataclass
class Fault:
    """One fault the supervisor applied: ``kind`` and its ``target`` (a node, agent, region or ``src->dst``)."""

    id: int
    kind: str  # node_killed, agent_killed, region_killed, node_paused, node_throttled, link
    target: str
    lease: str | None
    who: str
    run: str | None
    started_at: float  # wall clock, for people
    deadline: float  # monotonic

    def as_dict(self, now: float) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "target": self.target, "lease": self.lease, "who": self.who,
                "run": self.run, "started_at": self.started_at, "expires_in_s": round(self.deadline - now, 1)}


def _pid_alive(pid: int | None) -> bool:
    if not pid:
        return True  # no pid given: only the ttl judges
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped by its parent) is dead
        with open(f"/proc/{int(pid)}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _number(value: Any, name: str, low: float, high: float, default: float) -> float:
    if value is None:
        return default
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= float(value) <= high:
        raise ControlError(f"{name} must be a number in {low:g}..{high:g}")
    return float(value)


class DeadMan:
    """Leases, the faults applied under them, and the tick that reverts what must not stay."""

    def __init__(self, lab: str, home: Path, cap_s: float, *, roster: Roster, faults: Faults, topology: Topology,
                 events: EventLog, operation: Callable[[], AbstractAsyncContextManager[None]],
                 owner_pid: int | None = None, clock: Callable[[], float] = time.monotonic):
        self.lab = lab
        self.home = Path(home)
        self.cap_s = float(cap_s)
        self.roster, self.lab_faults, self.links, self.topo = roster, faults, faults.links, topology
        self.events = events
        self.operation = operation  # the supervisor's one-operation-at-a-time lock (rewrites the state file)
        self.owner_pid = owner_pid
        self.clock = clock
        self.leases: dict[str, Lease] = {}
        self.faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._stop_handled: float | None = None
        self._last_tick: float | None = None

    # ---- leases (control API) ------------------------------------------------------------
    def open_lease(self, body: dict[str, Any]) -> dict[str, Any]:
        pid = body.get("pid")
        if pid is not None and (not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0):
            raise ControlError("pid must be a positive integer")
        ttl = _number(body.get("ttl_s"), "ttl_s", MIN_TTL_S, MAX_TTL_S, DEFAULT_TTL_S)
        max_fault = min(self.cap_s, _number(body.get("max_fault_s"), "max_fault_s", 1.0, 86_400.0, self.cap_s))
        lease = Lease(id=secrets.token_hex(8), holder=str(body.get("holder") or "unknown")[:200], pid=pid,
                      run=(str(body["run"])[:64] if body.get("run") else None), ttl_s=ttl, max_fault_s=max_fault,
                      renewed=self.clock())
        self.leases[lease.id] = lease
        log.info("lease %s opened by %s (pid %s, ttl %.1fs, faults at most %.0fs)", lease.id, lease.holder, pid, ttl,
                 max_fault)
        return {**lease.as_dict(), "period_s": min(0.5, ttl / 4)}

    def renew(self, body: dict[str, Any]) -> dict[str, Any]:
        lease = self.leases.get(str(body.get("lease")))
        if lease is None:
            raise ControlError("no such lease (expired or released): open a new one", 404)
        lease.renewed = self.clock()
        return {"lease": lease.id, "renewed": True}

    def release(self, body: dict[str, Any]) -> dict[str, Any]:
        lease = self.leases.pop(str(body.get("lease")), None)
        kept = 0
        for fault in self.faults:
            if lease is not None and fault.lease == lease.id:
                fault.lease = None  # still bounded by its deadline
                kept += 1
        return {"released": lease is not None, "faults_kept": kept}

    # ---- around every control API call ---------------------------------------------------
    def refusal(self, path: str, body: dict[str, Any]) -> str | None:
        """Why this call must be refused now (an emergency stop), or None."""
        if path not in INJECTING_PATHS and not (path == "/link" and self._link_injects(body)):
            return None
        state = stop_state(self.home)
        if state is None:
            return None
        return f"{state.describe()}; no fault is injected until `aftershock stop --clear`"

    def _link_injects(self, body: dict[str, Any]) -> bool:
        if body.get("cut") is True or (isinstance(body.get("loss"), int | float) and body["loss"] > 0):
            return True
        latency = body.get("latency_ms")
        if not isinstance(latency, int | float):
            return False
        pairs = self.links.pairs(str(body.get("src", "")), str(body.get("dst", "")))
        return any(latency > self.topo.link_latency_ms(a, b) for a, b in pairs)

    def note(self, path: str, body: dict[str, Any], result: dict[str, Any], lease_id: str | None,
             actor: str | None) -> None:
        """Record the fault a successful call applied (nothing for calls that mend or provision)."""
        targets: list[tuple[str, str]] = []
        if path == "/kill-node" and result.get("killed"):
            targets = [("node_killed", str(body["node"]))]
        elif path == "/kill-agent" and result.get("killed"):
            targets = [("agent_killed", str(body["agent"]))]
        elif path == "/kill-region" and result.get("killed"):
            targets = [("region_killed", str(body["region"]))]
        elif path == "/pause-node" and result.get("paused"):
            targets = [("node_paused", str(body["node"]))]
        elif path == "/throttle-node":
            targets = [("node_throttled", str(body["node"]))]
        elif path == "/link":
            targets = [("link", f"{li['src']}->{li['dst']}") for li in result.get("links", [])
                       if not self._link_at_baseline(li["src"], li["dst"])]
        if not targets:
            return
        lease = self.leases.get(lease_id or "")
        max_s = lease.max_fault_s if lease else self.cap_s
        who = (actor or (lease.holder if lease else "") or "unknown (control API)")[:200]
        now = self.clock()
        for kind, target in targets:
            if any(f.kind == kind and f.target == target for f in self.faults):
                continue  # the same fault again: its clock keeps running from the first injection
            self.faults.append(Fault(next(self._ids), kind, target, lease.id if lease else None, who,
                                     lease.run if lease else None, time.time(), now + max_s))

    # ---- what is active, and reverting it ------------------------------------------------
    def _link_at_baseline(self, src: str, dst: str) -> bool:
        link = self.links.get(src, dst)
        return not link.cut and link.loss == 0 and link.latency_ms == self.topo.link_latency_ms(src, dst)

    def _active(self, fault: Fault) -> bool:
        nodes = list(self.roster)
        if fault.kind == "link":
            src, dst = fault.target.split("->", 1)
            return not self._link_at_baseline(src, dst)
        if fault.kind == "region_killed":
            return any(r.region == fault.target and r.status == "killed" and not r.replaced_by for r in nodes)
        if fault.kind == "agent_killed":
            home = next((r for r in nodes if fault.target in r.agents), None)
            return bool(home and home.status == "running" and home.agents_alive.get(fault.target) is False)
        rec = next((r for r in nodes if r.name == fault.target), None)
        if rec is None:
            return False
        if fault.kind == "node_killed":
            return rec.status == "killed" and not rec.replaced_by
        if fault.kind == "node_paused":
            return rec.status == "paused"
        if fault.kind == "node_throttled":
            return rec.cpu_percent is not None
        return False

    def _revert_link(self, fault: Fault) -> None:
        src, dst = fault.target.split("->", 1)
        for link in self.links.set(src, dst, latency_ms=self.topo.link_latency_ms(src, dst), loss=0.0, cut=False):
            self.events.emit("link_changed", **link.as_dict())

    async def _revert(self, fault: Fault) -> None:
        f = self.lab_faults
        if fault.kind == "node_paused":
            await f.resume_node(fault.target)
        elif fault.kind == "node_throttled":
            await f.unthrottle_node(fault.target)
        elif fault.kind == "node_killed":
            await f.restart_node(fault.target, by="deadman")
        elif fault.kind == "agent_killed":
            await f.restart_agent(fault.target, by="deadman")
        elif fault.kind == "region_killed":
            await f.restore_region(fault.target)

    async def revert(self, faults: list[Fault]) -> list[Fault]:
        """Revert the active ones: links at once (never behind the operation lock: a slow restart must not hold
        a partition open), then pauses and throttles, then every restart together."""
        active = [f for f in faults if self._active(f)]
        for fault in active:
            if fault.kind == "link":
                self._revert_link(fault)
        rest = [f for f in active if f.kind != "link"]
        if rest:
            async with self.operation():
                for fault in [f for f in rest if f.kind in ("node_paused", "node_throttled")]:
                    await self._revert(fault)
                slow = [f for f in rest if f.kind not in ("node_paused", "node_throttled")]
                results = await asyncio.gather(*(self._revert(f) for f in slow), return_exceptions=True)
                for fault, result in zip(slow, results, strict=True):
                    if isinstance(result, BaseException):
                        log.warning("could not revert %s %s: %s", fault.kind, fault.target, result)
        reverted = set(map(id, active))
        self.faults = [f for f in self.faults if id(f) not in reverted]
        return active

    def active(self) -> list[dict[str, Any]]:
        """The recorded faults still active (for ``GET /faults``)."""
        now = self.clock()
        return [f.as_dict(now) for f in self.faults if self._active(f)]

    # ---- the tick ------------------------------------------------------------------------
    async def tick(self) -> None:
        """One pass: the stop file, dead leases, expired faults; then forget faults that are no longer active."""
        now = self.clock()
        if self._last_tick is not None and now - self._last_tick > STALL_S:
            # our own loop was stalled (a loaded machine): no renewal could be served meanwhile, so that time
            # does not count against any lease (a live controller is never taken for a dead one)
            for lease in self.leases.values():
                lease.renewed += now - self._last_tick - PERIOD_S
        self._last_tick = now
        state = stop_state(self.home)
        if state is None:
            self._stop_handled = None
        elif self._stop_handled != state.since or self._anything_active():
            self._stop_handled = state.since
            if self._anything_active():
                await self._heal_for_stop(state.who)
            self.faults = []
            return
        dead = [lease for lease in self.leases.values()
                if now - lease.renewed > lease.ttl_s or not _pid_alive(lease.pid)]
        for lease in dead:
            await self.controller_gone(lease)
        expired = [f for f in self.faults if now >= f.deadline]
        if expired:
            for fault in await self.revert(expired):
                self.events.emit("fault_expired", fault=fault.kind, target=fault.target, who=fault.who)
                record(self.home, "expired", f"supervisor of lab {self.lab}", lab=self.lab, run=fault.run,
                       target=fault.target, kind=fault.kind, injected_by=fault.who, started_at=fault.started_at)
            self.faults = [f for f in self.faults if f not in expired]
        self.faults = [f for f in self.faults if self._active(f)]

    def _anything_active(self) -> bool:
        """Any fault at all in the lab, recorded or not (made by hand, or before a lease existed)."""
        return (not self.links.is_baseline()
                or any(r.cpu_percent is not None or (r.status in ("paused", "killed") and not r.replaced_by)
                       for r in self.roster)
                or any(self._active(f) for f in self.faults))

    async def _heal_for_stop(self, stop_by: str) -> None:
        started = time.monotonic()
        self.links.reset()  # at once, outside the lock: traffic crosses again whatever else is going on
        async with self.operation():
            result = await self.lab_faults.heal()
        seconds = round(time.monotonic() - started, 3)
        log.warning("emergency stop by %s: lab %s healed in %.2f s", stop_by, self.lab, seconds)
        self.events.emit("stop_healed", who=stop_by, seconds=seconds)
        record(self.home, "rollback", f"supervisor of lab {self.lab}", lab=self.lab, target="all",
               reason="emergency stop", stop_by=stop_by, seconds=seconds, result=result)

    async def controller_gone(self, lease: Lease | None = None, *, reason: str = "") -> list[Fault]:
        """Revert the faults of ``lease`` (every recorded fault when None: the lab's owner is gone)."""
        if lease is not None:
            self.leases.pop(lease.id, None)
        mine = [f for f in self.faults if lease is None or f.lease == lease.id]
        started = time.monotonic()
        reverted = await self.revert(mine)
        holder = lease.holder if lease else "the lab's owner"
        why = reason or ("its lease was not renewed or its process is gone" if lease else "the owner process is gone")
        if not reverted:
            log.info("dead-man: %s is gone (%s); no fault of it was active", holder, why)
            return reverted
        names = [f"{f.kind}:{f.target}" for f in reverted]
        log.warning("dead-man: %s is gone (%s); reverted %s", holder, why, ", ".join(names))
        self.events.emit("deadman_healed", holder=holder, reason=why, faults=names)
        record(self.home, "deadman", f"dead-man of lab {self.lab}", lab=self.lab, run=lease.run if lease else None,
               target=",".join(f.target for f in reverted), controller=holder,
               controller_pid=lease.pid if lease else self.owner_pid, reason=why, faults=names,
               seconds=round(time.monotonic() - started, 3))
        return reverted

    async def run(self, stop: asyncio.Event) -> None:
        """Tick every :data:`PERIOD_S` until the lab stops; a failing tick is logged and the next one runs."""
        while not stop.is_set():
            try:
                await self.tick()
            except Exception:  # the dead-man must keep ticking
                log.exception("dead-man tick failed")
            try:
                await asyncio.wait_for(stop.wait(), PERIOD_S)
            except TimeoutError:
                pass
