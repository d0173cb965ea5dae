"""An in-memory network behind the :class:`fleet.agents.net.Transport` seam, and virtual time to run it in.

memberlist tests its protocols over a ``MockNetwork`` beside its real-socket tests; this is the same idea.
Processes serve their :data:`fleet.agents.net.JsonRoutes` on a :class:`MemoryNetwork` and call each other
through :class:`MemoryTransport`, with the link layer's semantics: a call whose caller believes the
destination is in another region crosses the directed link (its one-way latency out, the reverse link's on
the way back); a dropped or cut crossing is a black hole (the caller times out); a killed endpoint refuses
(``NetError`` at once, like SIGKILL); a paused one never answers (like SIGSTOP). Payloads pass through JSON,
as on the wire. No socket is opened.

Link state is any :class:`LinkState` (``fleet.supervisor.netlink.LinkTable`` is one: the supervisor's own
table, seeded). :func:`run_virtual` runs a coroutine on an event loop whose clock jumps to the next timer
instead of waiting, so protocol periods, timeouts and latencies cost no wall time: thousands of seeded SWIM
runs take seconds.
"""

from __future__ import annotations

import asyncio
import selectors
import types
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import orjson

from core.logs import EVENT_KINDS
from fleet.agents.net import JsonRoutes, NetError, NetTimeout

__all__ = [
    "LinkState",
    "MemoryNetwork",
    "MemoryTransport",
    "MemoryEvents",
    "NetStats",
    "VirtualTimeLoop",
    "run_virtual",
]

T = TypeVar("T")


class LinkState(Protocol):
    """The directed links between regions: their one-way latency, and whether a crossing is dropped."""

    def get(self, src: str, dst: str) -> Any: ...

    def drops(self, link: Any) -> bool: ...


@dataclass
class _FlatLink:
    src: str
    dst: str
    latency_ms: float = 0.0


class _NoLinkLayer:
    """Every crossing arrives at once: for tests that are about the protocol, not the network."""

    def get(self, src: str, dst: str) -> _FlatLink:
        return _FlatLink(src, dst)

    def drops(self, link: Any) -> bool:
        return False


@dataclass
class _Endpoint:
    name: str
    region: str
    routes: JsonRoutes
    state: str = "up"  # up, down (refuses), paused (never answers)
    epoch: int = 0  # bumped by a kill, so a call in flight loses its reply


@dataclass
class NetStats:
    calls: int = 0
    dropped: int = 0
    refused: int = 0


class MemoryNetwork:
    """The fabric: endpoints by base URL (``mem://NAME``) and the link state between their regions."""

    def __init__(self, links: LinkState | None = None):
        self.links: LinkState = links if links is not None else _NoLinkLayer()
        self._endpoints: dict[str, _Endpoint] = {}
        self.stats = NetStats()

    # ---- endpoints ----------------------------------------------------------------------
    def serve(self, name: str, region: str, routes: JsonRoutes) -> str:
        """Serve ``routes`` as process ``name`` in ``region``; returns its base URL."""
        url = f"mem://{name}"
        if url in self._endpoints:
            raise ValueError(f"{name!r} is already served on this network")
        self._endpoints[url] = _Endpoint(name, region, routes)
        return url

    def _endpoint(self, url: str) -> _Endpoint:
        return self._endpoints[_split(url)[0]]

    def kill(self, url: str) -> None:
        """Like SIGKILL: calls are refused from now on, replies in flight are lost."""
        ep = self._endpoint(url)
        ep.state, ep.epoch = "down", ep.epoch + 1

    def pause(self, url: str) -> None:
        """Like SIGSTOP: calls get no answer (the caller times out)."""
        self._endpoint(url).state = "paused"

    def resume(self, url: str) -> None:
        """Back to serving (a resumed process, or a restarted one on the same address)."""
        self._endpoint(url).state = "up"

    def transport(self, region: str) -> MemoryTransport:
        """What a process in ``region`` calls through (its ``net``)."""
        return MemoryTransport(self, region)

    # ---- one call ----------------------------------------------------------------------------
    async def _cross(self, src: str, dst: str) -> None:
        link = self.links.get(src, dst)
        if self.links.drops(link):
            self.stats.dropped += 1
            await asyncio.Event().wait()  # a black hole: only the caller's timeout ends this call
        if link.latency_ms:
            await asyncio.sleep(link.latency_ms / 1000)

    async def deliver(self, src: str, dst_region: str, url: str, body: Any, ok_statuses: tuple[int, ...]
                      ) -> tuple[int, Any]:
        self.stats.calls += 1
        base, path = _split(url)
        ep = self._endpoints.get(base)
        if ep is None:
            self.stats.refused += 1
            raise NetError(f"POST {url}: no such host")
        crossing = dst_region != src
        if crossing:
            await self._cross(src, ep.region)
        if ep.state == "down":
            self.stats.refused += 1
            raise NetError(f"POST {url}: ClientConnectorError")
        if ep.state == "paused":
            await asyncio.Event().wait()
        handler = ep.routes.get(path)
        if handler is None:
            if 404 in ok_statuses:
                return 404, None
            raise NetError(f"POST {url}: HTTP 404")
        epoch = ep.epoch
        reply = _wire(await handler(_wire(body if body is not None else {})))
        if ep.epoch != epoch:
            raise NetError(f"POST {url}: ServerDisconnectedError")
        if crossing:
            await self._cross(ep.region, src)
        return 200, reply


class MemoryTransport:
    """One process's side of a :class:`MemoryNetwork`: the :class:`fleet.agents.net.Transport` protocol."""

    def __init__(self, network: MemoryNetwork, region: str):
        self.network = network
        self.region = region

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def call(
        self,
        dst_region: str,
        method: str,
        url: str,
        *,
        body: Any = None,
        timeout_s: float,
        ok_statuses: tuple[int, ...] = (200,),
        src_region: str | None = None,
    ) -> tuple[int, Any]:
        try:
            async with asyncio.timeout(timeout_s):
                return await self.network.deliver(src_region or self.region, dst_region, url, body, ok_statuses)
        except TimeoutError:
            raise NetTimeout(f"{method} {url}: no answer in {timeout_s:.2f}s") from None


def _wire(payload: Any) -> Any:
    """Through JSON and back, as on the wire (orjson: the network is the hot path of a simulation)."""
    return orjson.loads(orjson.dumps(payload))


def _split(url: str) -> tuple[str, str]:
    """``mem://name/a/b`` -> (``mem://name``, ``/a/b``)."""
    head = url.index("://") + 3
    cut = url.find("/", head)
    return (url, "/") if cut < 0 else (url[:cut], url[cut:])


@dataclass
class MemoryEvents:
    """An event sink that keeps events in a list, stamped by ``clock`` (the virtual loop's time)."""

    clock: Any = None
    events: list[dict[str, Any]] = field(default_factory=list)

    def emit(self, kind: str, *, node: str | None = None, region: str | None = None, agent: str | None = None,
             by: str | None = None, **detail: Any) -> dict[str, Any]:
        if kind not in EVENT_KINDS:
            raise ValueError(f"unknown event kind {kind!r}")
        ts = self.clock() if self.clock is not None else asyncio.get_running_loop().time()
        event = {"ts": ts, "kind": kind, "node": node, "region": region, "agent": agent, "by": by, "detail": detail}
        self.events.append(event)
        return event

    def of(self, kind: str, node: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == kind and (node is None or e["node"] == node)]


# ---- virtual time ----------------------------------------------------------------------------
class _Clock:
    def __init__(self, start: float):
        self.now = start


class _VirtualSelector(selectors.BaseSelector):
    """Never waits: a ``select(timeout)`` moves the clock to the next timer. Registered files (the loop's
    self-pipe) are kept but never reported ready: nothing here does I/O."""

    def __init__(self, clock: _Clock):
        self._clock = clock
        self._keys: dict[int, selectors.SelectorKey] = {}

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        key = selectors.SelectorKey(fileobj, fd, events, data)
        self._keys[fd] = key
        return key

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        fd = fileobj if isinstance(fileobj, int) else fileobj.fileno()
        return self._keys.pop(fd)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            raise RuntimeError("virtual time: nothing is ready and no timer is set; the loop would wait forever")
        self._clock.now += max(0.0, timeout)
        return []

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return types.MappingProxyType(self._keys)

    def close(self) -> None:
        self._keys.clear()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop on virtual time: ``time()`` is the virtual clock, and idle time is skipped."""

    def __init__(self, start: float = 0.0):
        self._virtual = _Clock(start)
        super().__init__(_VirtualSelector(self._virtual))

    def time(self) -> float:
        return self._virtual.now


def run_virtual(main: Coroutine[Any, Any, T], *, start: float = 0.0) -> T:
    """Run ``main`` to completion on a fresh :class:`VirtualTimeLoop` (tasks left over are cancelled)."""
    with asyncio.Runner(loop_factory=lambda: VirtualTimeLoop(start)) as runner:
        return runner.run(main)
