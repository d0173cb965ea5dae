"""Churn: devices of a churning node class leave and rejoin on a seeded schedule (fleet/nodeclasses.py ``churn``).

The environment, not a fault: a phone loses its network, a kiosk reboots. A device leaves by the mechanism a
fault uses (SIGKILL of its node process: its peers find out by failed probes, as with a crash) and rejoins by a
restart (a new process joining through the seeds, as a restarted node does), with ``device_left`` /
``device_joined`` in the event log. What keeps it apart from the faults:

- its statuses are its own (``away`` while left, ``joining`` while it starts: ``records.CHURN_STATUSES``), so
  ``heal``, the dead-man and an emergency stop (which revert faults) leave it alone, an orchestrator's restart
  does not bring it back early, and the schedule keeps running through all of them: after a heal the devices
  keep churning, and an away device comes back at its own time (never left down forever);
- a device under a fault (killed, paused, throttled) does not leave; a device a fault killed is not rejoined by
  churn (``heal`` or ``restore_region`` bring it back); an away device of a region whose other nodes are all
  killed waits for the region to come back before it rejoins;
- the mesh does not replace a churning device when SWIM declares it dead (``ChildConfig.no_replace``), and the
  analysis does not take its ``member_dead`` for the detection of the experiment's fault (analysis/churn.py).

The schedule is a pure function of the seed and the device's name (:func:`churn_timeline`), so a test can say
when each device must leave and rejoin; times run from the moment the lab is ready.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Iterator
from contextlib import AbstractAsyncContextManager

from core.logs import EventLog
from fleet.nodeclasses import Churn
from fleet.supervisor.launcher import Launcher
from fleet.supervisor.records import NodeRecord, Roster
from fleet.topology import Topology

__all__ = ["Churner", "churn_phases", "churn_timeline", "REJOIN_RETRY_S"]

log = logging.getLogger("aftershock.fleet.supervisor.churn")

LATE_S = 2.0  # a departure this much later than its schedule is logged (a slow start, a busy supervisor)
REJOIN_RETRY_S = 1.0  # an away device whose region is down, or whose start failed, tries again this often
_GONE = ("stopped", "removing", "removed")


def _draw(mean: float, distribution: str, rng: random.Random, floor: float) -> float:
    if distribution == "exponential":
        value = rng.expovariate(1.0 / mean)
    elif distribution == "uniform":
        value = rng.uniform(0.5 * mean, 1.5 * mean)
    else:
        value = mean
    return max(floor, value)


def churn_phases(spec: Churn, seed: int, node: str) -> Iterator[tuple[float, float]]:
    """Endless (up, down) durations of one device, seeded by the lab's seed and the device's name.

    ``fixed`` staggers the devices: the first up time is a seeded share of ``up_s``, so a class does not leave all
    at once.
    """
    rng = random.Random(f"{seed}:churn:{node}")
    first = True
    while True:
        if first and spec.distribution == "fixed":
            up = max(spec.min_s, rng.uniform(0, spec.up_s))
        else:
            up = _draw(spec.up_s, spec.distribution, rng, spec.min_s)
        first = False
        yield up, _draw(spec.down_s, spec.distribution, rng, spec.min_s)


def churn_timeline(spec: Churn, seed: int, node: str, horizon_s: float) -> list[tuple[float, str]]:
    """When (seconds from the lab being ready) a device leaves and rejoins, up to ``horizon_s``, if nothing else
    acts on it: ``[(12.3, "left"), (19.0, "joined"), ...]``."""
    out: list[tuple[float, str]] = []
    t = 0.0
    for up, down in churn_phases(spec, seed, node):
        t += up
        if t > horizon_s:
            return out
        out.append((round(t, 6), "left"))
        t += down
        if t > horizon_s:
            return out
        out.append((round(t, 6), "joined"))
    return out  # pragma: no cover - the phases never end


class Churner:
    """Runs the schedule of every device of a churning class; a component the supervisor owns, started once the
    lab is ready. ``operation`` is the supervisor's one-operation-at-a-time lock, so a device never leaves in the
    middle of a fault operation (a heal, a region kill)."""

    def __init__(self, topo: Topology, roster: Roster, launcher: Launcher, events: EventLog, seed: int,
                 operation: Callable[[], AbstractAsyncContextManager[None]], on_change: Callable[[], None]):
        self.topo = topo
        self.roster = roster
        self.launcher = launcher
        self.events = events
        self.seed = seed
        self.operation = operation
        self.on_change = on_change
        self.churning = set(topo.churning_classes)

    def devices(self) -> list[NodeRecord]:
        return [r for r in self.roster if r.node_class in self.churning]

    async def run(self) -> None:
        devices = self.devices()
        if devices:
            log.info("churn: %d devices of class(es) %s", len(devices), ", ".join(sorted(self.churning)))
            await asyncio.gather(*(self._device(rec) for rec in devices))

    async def _device(self, rec: NodeRecord) -> None:
        """Follow the device's schedule: times are absolute from the start, so a slow restart does not drift it."""
        spec = self.topo.node_classes[rec.node_class].churn
        assert spec is not None
        clock = asyncio.get_running_loop().time  # monotonic; virtual in the unit tests
        t = clock()
        for up, down in churn_phases(spec, self.seed, rec.name):
            t += up
            await asyncio.sleep(max(0.0, t - clock()))
            late = clock() - t
            if late > LATE_S:
                log.warning("churn: %s leaves %.1f s late (its rejoin took long, or the supervisor is busy)",
                            rec.name, late)
            try:
                left = await self._leave(rec, down)
            except Exception:  # one bad step never ends a device's schedule (nor the lab)
                log.exception("churn: %s could not leave", rec.name)
                left = False
            t += down
            if not left:  # under a fault, or gone: no departure this round
                continue
            await asyncio.sleep(max(0.0, t - clock()))
            while not await self._rejoin(rec):  # held back (its region is down, a start failed): later
                await asyncio.sleep(REJOIN_RETRY_S)
                t += REJOIN_RETRY_S  # the schedule moves by the time held back, not by a process's start time

    def _region_down(self, region: str) -> bool:
        """Every other node of the region (not replaced, not a churning device) is killed: a region loss."""
        others = [r for r in self.roster if r.region == region and r.node_class not in self.churning
                  and r.role in ("agent", "hub") and not r.replaced_by and r.status not in _GONE]
        return bool(others) and all(r.status == "killed" for r in others)

    async def _leave(self, rec: NodeRecord, down_s: float) -> bool:
        async with self.operation():
            if not rec.serving or rec.cpu_percent is not None:
                return False
            rec.status = "away"  # before the kill: the launcher's watch must not call it an unexpected death
            await self.launcher.kill(rec)
            self.events.emit("device_left", node=rec.name, region=rec.region, down_s=round(down_s, 3),
                             **{"class": rec.node_class})
        return True

    async def _rejoin(self, rec: NodeRecord) -> bool:
        """True once the device serves again (or something else took it over); False to try again later."""
        async with self.operation():
            if rec.status != "away":
                return True
            if self._region_down(rec.region):
                return False
            rec.status = "joining"
        self.on_change()
        try:
            await self.launcher.start_node(rec, seeds=self.roster.seeds(exclude=rec.name))
        except Exception as exc:  # a start that failed (or timed out) is tried again, never ends the schedule
            log.warning("churn: %s could not rejoin: %s", rec.name, exc)
            if rec.status == "joining":
                rec.status = "away"
                await self.launcher.kill(rec)
            return False
        self.events.emit("device_joined", node=rec.name, region=rec.region, pid=rec.pid, **{"class": rec.node_class})
        self.on_change()
        return True
