"""SWIM-style membership for the decentralized topology: probe, indirect probe, suspicion, gossip.

Follows Das et al. (2002) and memberlist: each period a node probes the next member of a shuffled
round-robin list; if the direct probe fails it asks ``indirect_probes`` others to probe for it; if
they fail too the member is suspected, and declared dead when no refutation arrives within the
suspicion timeout ``suspicion_mult * max(1, log10(n)) * probe_period``. Membership changes ride on
probe messages (infection-style dissemination), each retransmitted a bounded number of times.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from fleet.agents.net import JsonRoutes, NetError, Transport

__all__ = ["Member", "Swim", "EventSink", "swim_routes", "suspicion_timeout_s"]

log = logging.getLogger("aftershock.fleet.swim")

ALIVE, SUSPECT, DEAD, LEFT = "alive", "suspect", "dead", "left"
GONE = (DEAD, LEFT)  # neither probed nor counted; a member that LEFT said so itself and is never replaced
_MAX_PIGGYBACK = 12


def suspicion_timeout_s(suspicion_mult: float, n_members: int, probe_period_s: float) -> float:
    """How long a member stays suspected before it is declared dead (memberlist's formula)."""
    return suspicion_mult * max(1.0, math.log10(max(1, n_members))) * probe_period_s


class EventSink(Protocol):
    """Where membership changes are told (``core.logs.EventLog`` in the lab, a list in tests)."""

    def emit(self, kind: str, **fields: Any) -> Any: ...


@dataclass
class Member:
    name: str
    region: str
    url: str
    state: str = ALIVE
    incarnation: int = 0
    suspect_since: float | None = None
    free: int = 0
    load: float = 0.0  # (tasks running + queued) / slots, as the member last reported it (the autoscaler's signal)
    slots: int = 0
    agents: int = 0  # agents the member hosts (node classes differ), as it last reported

    def wire(self) -> dict[str, Any]:
        return {"name": self.name, "region": self.region, "url": self.url, "state": self.state, "inc": self.incarnation}


@dataclass
class _Update:
    data: dict[str, Any]
    sent: int = 0


@dataclass
class Swim:
    """One node's membership view. ``net`` is any :class:`fleet.agents.net.Transport` (real sockets through the
    link layer, or ``fleet.agents.memnet``); ``clock`` must tick with the event loop's sleeps and timeouts."""

    me: Member
    probe_period_s: float
    probe_timeout_s: float
    indirect_probes: int
    suspicion_mult: float
    net: Transport
    events: EventSink
    rng: random.Random
    free_slots: Callable[[], int] = lambda: 0
    load_report: Callable[[], tuple[float, int]] = lambda: (0.0, 0)  # (load, slots) this node reports
    on_dead: Callable[[Member], None] = lambda _m: None
    clock: Callable[[], float] = time.monotonic
    # The push-pull sync of a join carries the whole member table: over a stream transport when ``net`` is one of
    # datagrams (fleet/agents/dgram.py), as memberlist keeps it on TCP while its probes go over UDP.
    sync_net: Transport | None = None
    members: dict[str, Member] = field(default_factory=dict)
    #: bumped whenever a member's state changes or a member is added: caches of the view compare it
    version: int = 0
    _queue: list[_Update] = field(default_factory=list)
    _order: list[str] = field(default_factory=list)
    _alive_cache: tuple[int, list[Member]] | None = None

    # ---- views ---------------------------------------------------------------------------
    def alive(self, include_self: bool = True) -> list[Member]:
        out = [m for m in self.members.values() if m.state not in GONE]
        return ([self.me] if include_self else []) + out

    def strictly_alive(self) -> list[Member]:
        """This node and the members in state alive (not suspected), cached until :attr:`version` changes: session
        placement asks it on every task."""
        if self._alive_cache is None or self._alive_cache[0] != self.version:
            self._alive_cache = (self.version, [m for m in self.alive() if m.state == ALIVE])
        return self._alive_cache[1]

    def alive_count(self) -> int:
        return 1 + sum(1 for m in self.members.values() if m.state not in GONE)

    def suspicion_timeout(self) -> float:
        return suspicion_timeout_s(self.suspicion_mult, len(self.members) + 1, self.probe_period_s)

    # ---- messages ------------------------------------------------------------------------
    def _envelope(self) -> dict[str, Any]:
        self.me.free = self.free_slots()
        self.me.load, self.me.slots = self.load_report()
        limit = 3 * math.ceil(math.log10(len(self.members) + 2) + 1)
        picked = self._queue[:_MAX_PIGGYBACK]
        for update in picked:
            update.sent += 1
        self._queue = [u for u in self._queue if u.sent < limit]
        return {"from": {**self.me.wire(), "free": self.me.free, "load": self.me.load, "slots": self.me.slots,
                         "agents": self.me.agents},
                "updates": [u.data for u in picked]}

    def _gossip(self, data: dict[str, Any]) -> None:
        self._queue = [u for u in self._queue if u.data["name"] != data["name"]]
        self._queue.insert(0, _Update(dict(data)))

    def receive(self, message: dict[str, Any]) -> None:
        sender = message.get("from")
        if isinstance(sender, dict):
            self.apply({**sender, "state": ALIVE})
            if sender.get("name") in self.members:
                member = self.members[sender["name"]]
                member.free = int(sender.get("free", 0))
                member.load, member.slots = float(sender.get("load", 0.0)), int(sender.get("slots", 0))
                member.agents = int(sender.get("agents", 0))
        for update in message.get("updates", []):
            self.apply(update)

    def apply(self, update: dict[str, Any]) -> None:
        """Merge one membership update with SWIM's precedence rules (incarnation numbers)."""
        name, state, inc = update["name"], update["state"], int(update.get("inc", 0))
        if name == self.me.name:
            if self.me.state == LEFT:
                return  # leaving: news of it is not refuted
            if state != ALIVE and inc >= self.me.incarnation:
                self.me.incarnation = inc + 1  # refute: we are alive
                self._gossip(self.me.wire())
            return
        member = self.members.get(name)
        if member is None:
            member = Member(name, update["region"], update["url"], state=state, incarnation=inc)
            self.members[name] = member
            self.version += 1
            if state == SUSPECT:
                member.suspect_since = self.clock()
            self._gossip(member.wire())
            return
        if member.url != update.get("url", member.url) and inc >= member.incarnation:
            member.url = update["url"]
        if state == ALIVE and (inc > member.incarnation or (member.state == ALIVE and inc == member.incarnation)):
            revived, newer = member.state != ALIVE, inc > member.incarnation
            member.state, member.incarnation, member.suspect_since = ALIVE, inc, None
            self.version += revived
            if revived or newer:  # news (a refutation above all) is passed on, infection-style
                self._gossip(member.wire())
            if revived:
                self.events.emit("member_alive", node=name, region=member.region, by=self.me.name)
        elif state == SUSPECT and member.state == ALIVE and inc >= member.incarnation:
            member.state, member.incarnation, member.suspect_since = SUSPECT, inc, self.clock()
            self.version += 1
            self._gossip(member.wire())
        elif state == DEAD and member.state not in GONE and inc >= member.incarnation:
            member.state, member.incarnation = DEAD, inc
            self.version += 1
            self._gossip(member.wire())
            self.on_dead(member)
        elif state == LEFT and member.state != LEFT and inc >= member.incarnation:
            member.state, member.incarnation, member.suspect_since = LEFT, inc, None
            self.version += 1
            self._gossip(member.wire())
            self.events.emit("member_left", node=name, region=member.region, by=self.me.name)

    # ---- handlers (called by the node's HTTP server) --------------------------------------
    def handle_ping(self, message: dict[str, Any]) -> dict[str, Any]:
        self.receive(message)
        return self._envelope()

    async def handle_ping_req(self, message: dict[str, Any]) -> dict[str, Any]:
        self.receive(message)
        target = self.members.get(message.get("target", ""))
        ok = target is not None and await self._ping(target)
        return {**self._envelope(), "ack": ok}

    def handle_sync(self, message: dict[str, Any]) -> dict[str, Any]:
        """Push-pull state exchange used by joining nodes."""
        self.receive(message)
        table = [m.wire() for m in self.members.values()] + [self.me.wire()]
        return {**self._envelope(), "members": table}

    # ---- active side --------------------------------------------------------------------
    async def join(self, seeds: list[Member], timeout_s: float = 2.0) -> bool:
        """Learn the member table from the first seed that answers."""
        for seed in self.rng.sample(seeds, len(seeds)):
            try:
                _, reply = await (self.sync_net or self.net).call(
                    seed.region, "POST", f"{seed.url}/swim/sync", body=self._envelope(), timeout_s=timeout_s
                )
            except NetError:
                continue
            self.receive(reply)
            for row in reply.get("members", []):
                self.apply(row)
            return True
        return False

    async def _ping(self, target: Member, timeout_s: float | None = None) -> bool:
        try:
            _, reply = await self.net.call(
                target.region,
                "POST",
                f"{target.url}/swim/ping",
                body=self._envelope(),
                timeout_s=timeout_s or self.probe_timeout_s,
            )
        except NetError:
            return False
        self.receive(reply)
        return True

    async def _ping_req(self, helper: Member, target: Member, timeout_s: float) -> bool:
        body = {**self._envelope(), "target": target.name}
        try:
            _, reply = await self.net.call(
                helper.region, "POST", f"{helper.url}/swim/ping-req", body=body, timeout_s=timeout_s
            )
        except NetError:
            return False
        self.receive(reply)
        return bool(reply.get("ack"))

    def _next_target(self) -> Member | None:
        while self._order:
            name = self._order.pop()
            member = self.members.get(name)
            if member is not None and member.state not in GONE:
                return member
        candidates = [n for n, m in self.members.items() if m.state not in GONE]
        if not candidates:
            return None
        self.rng.shuffle(candidates)
        self._order = candidates
        return self._next_target()

    async def probe(self, target: Member) -> None:
        if await self._ping(target):
            return
        helpers = [m for m in self.members.values() if m.state == ALIVE and m.name != target.name]
        helpers = self.rng.sample(helpers, min(self.indirect_probes, len(helpers)))
        window = max(self.probe_period_s - self.probe_timeout_s, self.probe_timeout_s)
        if helpers:
            results = await asyncio.gather(*(self._ping_req(h, target, window) for h in helpers))
            if any(results):
                return
        if target.state == ALIVE:
            target.state, target.suspect_since = SUSPECT, self.clock()
            self.version += 1
            self._gossip(target.wire())
            self.events.emit("member_suspected", node=target.name, region=target.region, by=self.me.name)

    def expire_suspects(self) -> None:
        now, timeout = self.clock(), self.suspicion_timeout()
        for member in list(self.members.values()):
            if member.state == SUSPECT and member.suspect_since is not None and now - member.suspect_since >= timeout:
                member.state = DEAD
                self.version += 1
                self._gossip(member.wire())
                self.events.emit(
                    "member_dead",
                    node=member.name,
                    region=member.region,
                    by=self.me.name,
                    suspected_for_s=round(now - member.suspect_since, 3),
                )
                self.on_dead(member)

    async def leave(self, timeout_s: float = 1.0) -> int:
        """Leave gracefully (memberlist's Leave): tell every member at once, so nobody suspects, declares dead or
        replaces this node; probing stops. Returns how many members acknowledged."""
        self.me.incarnation += 1
        self.me.state = LEFT
        self.version += 1
        self._gossip(self.me.wire())
        targets = [m for m in self.members.values() if m.state not in GONE]
        message = self._envelope()

        async def tell(member: Member) -> bool:
            try:
                await self.net.call(member.region, "POST", f"{member.url}/swim/ping", body=message,
                                    timeout_s=timeout_s)
            except NetError:
                return False
            return True

        return sum(await asyncio.gather(*(tell(m) for m in targets)))

    async def run(self) -> None:
        while self.me.state != LEFT:
            started = self.clock()
            target = self._next_target()
            if target is not None:
                await self.probe(target)
            self.expire_suspects()
            await asyncio.sleep(max(0.0, self.probe_period_s - (self.clock() - started)))


def swim_routes(swim: Swim) -> JsonRoutes:
    """The three SWIM messages a member serves, for an aiohttp app or the in-memory network alike."""

    async def ping(message: Any) -> dict[str, Any]:
        return swim.handle_ping(message)

    async def sync(message: Any) -> dict[str, Any]:
        return swim.handle_sync(message)

    return {"/swim/ping": ping, "/swim/ping-req": swim.handle_ping_req, "/swim/sync": sync}
