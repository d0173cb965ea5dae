"""Session memory: a local store per holder, placement by rendezvous hashing, batched async replication.

A session's memory is its turn count and a short history. The client sends the turn it expects
(like a read-your-writes token); a holder whose copy is older asks the replicas for a fresher one, and
memory that no live holder has is *lost*: the reply's turn then tells the client so.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol

from fleet.agents.net import JsonRoutes, Transport

__all__ = ["SessionStore", "Replicator", "holders", "new_memory", "advance", "freshest", "session_routes"]

log = logging.getLogger("aftershock.fleet.sessions")
HISTORY = 8


class _Holder(Protocol):
    name: str
    region: str
    url: str


def new_memory() -> dict[str, Any]:
    return {"turn": 0, "history": []}


def advance(memory: dict[str, Any], agent: str) -> dict[str, Any]:
    """The memory after one more turn served by ``agent``."""
    return {"turn": int(memory.get("turn", 0)) + 1, "history": (list(memory.get("history", [])) + [agent])[-HISTORY:]}


class SessionStore:
    """Memory by session id; a write never replaces a newer turn with an older one."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, Any]] = {}

    def __len__(self) -> int:
        return len(self._data)

    def get(self, sid: str) -> dict[str, Any] | None:
        return self._data.get(sid)

    def put(self, sid: str, memory: dict[str, Any]) -> bool:
        current = self._data.get(sid)
        if current is not None and int(current.get("turn", 0)) >= int(memory.get("turn", 0)):
            return False
        self._data[sid] = memory
        return True

    def put_many(self, sessions: dict[str, dict[str, Any]]) -> int:
        return sum(self.put(sid, mem) for sid, mem in sessions.items())

    def get_many(self, sids: Iterable[str]) -> dict[str, dict[str, Any]]:
        return {sid: self._data[sid] for sid in sids if sid in self._data}


def _score(sid: str, name: str) -> int:
    return int.from_bytes(hashlib.blake2b(f"{sid}|{name}".encode(), digest_size=8).digest(), "big")


def holders(sid: str, members: Sequence[_Holder], count: int) -> list[_Holder]:
    """The ``count`` members that hold ``sid``: highest rendezvous score first, one per region while
    regions last (so a region's loss never takes every copy), then the next best."""
    ranked = sorted(members, key=lambda m: _score(sid, m.name), reverse=True)
    chosen: list[_Holder] = []
    regions: set[str] = set()
    for member in ranked:
        if len(chosen) == count:
            return chosen
        if member.region not in regions:
            chosen.append(member)
            regions.add(member.region)
    for member in ranked:
        if len(chosen) == count:
            break
        if member not in chosen:
            chosen.append(member)
    return chosen


class Replicator:
    """Batches session writes per peer and pushes them every ``period_s`` (asynchronous replication:
    the last writes before a crash can be lost, as in real deployments)."""

    def __init__(
        self,
        send: Callable[[_Holder, dict[str, Any]], Awaitable[None]],
        period_s: float = 0.2,
    ):
        self._send = send
        self.period_s = period_s
        self._pending: dict[str, tuple[_Holder, dict[str, dict[str, Any]]]] = {}
        self.sent = 0
        self.failed = 0

    def enqueue(self, peer: _Holder, sid: str, memory: dict[str, Any]) -> None:
        _, batch = self._pending.setdefault(peer.name, (peer, {}))
        batch[sid] = memory

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}

        async def push(peer: _Holder, batch: dict[str, dict[str, Any]]) -> None:
            try:
                await self._send(peer, batch)
                self.sent += len(batch)
            except Exception as exc:  # a dead or partitioned peer: this batch is lost, as it would be
                self.failed += len(batch)
                log.debug("replication to %s failed: %s", peer.name, exc)

        await asyncio.gather(*(push(peer, batch) for peer, batch in pending.values()))

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.period_s)
            await self.flush()


async def freshest(
    net: Transport,
    sid: str,
    expected_turn: int,
    local: dict[str, Any] | None,
    peers: Sequence[_Holder],
    timeout_s: float = 1.0,
) -> dict[str, Any]:
    """The newest copy of ``sid`` among ``local`` and ``peers``; asks peers only when ``local`` is older
    than the turn the client expects (the common case, a fresh local copy, costs no network call), and stops at
    the first copy as fresh as the client expects (a dead or cut-off holder costs the timeout only when no live
    holder has the turn)."""
    if (local is not None and local["turn"] >= expected_turn) or expected_turn == 0 or not peers:
        return local or new_memory()

    async def ask(peer: _Holder) -> dict[str, Any] | None:
        try:
            _, reply = await net.call(
                peer.region, "POST", f"{peer.url}/sessions/get", body={"ids": [sid]}, timeout_s=timeout_s
            )
        except Exception:  # a dead or partitioned peer has no copy to offer
            return None
        return (reply or {}).get(sid)

    best = local
    asking = [asyncio.ensure_future(ask(p)) for p in peers]
    try:
        for answer in asyncio.as_completed(asking):
            copy = await answer
            if copy and (best is None or copy["turn"] > best["turn"]):
                best = copy
            if best is not None and best["turn"] >= expected_turn:
                break
    finally:
        for task in asking:
            task.cancel()
    return best or new_memory()


def session_routes(store: SessionStore) -> JsonRoutes:
    """``/sessions/get`` and ``/sessions/put``: how holders serve and receive replicas."""

    async def get(body: Any) -> dict[str, Any]:
        return store.get_many(body.get("ids", []))

    async def put(body: Any) -> dict[str, Any]:
        return {"stored": store.put_many(body.get("sessions", {}))}

    return {"/sessions/get": get, "/sessions/put": put}
