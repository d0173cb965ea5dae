"""The controllable link layer: one egress proxy per region, one link per directed region pair.

Every inter-region call passes the source region's egress proxy (an ordinary HTTP forward proxy).
The proxy looks up the destination region by port and applies that link's state: one-way latency
on the way out and the reverse link's latency on the way back; loss drops a request (black hole,
the caller times out, as with lost packets); a cut link black-holes everything (a partition).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass

import aiohttp
from aiohttp import web
from yarl import URL

from fleet.agents.net import start_site
from fleet.supervisor.lastmile import LastMiles

__all__ = ["Link", "LinkTable", "EgressProxy", "BLACKHOLE_S"]

log = logging.getLogger("aftershock.fleet.supervisor.netlink")

# How long a black-holed request is held before the proxy gives up on it; callers time out long before.
BLACKHOLE_S = 60.0


@dataclass
class Link:
    src: str
    dst: str
    latency_ms: float = 0.0
    loss: float = 0.0
    cut: bool = False

    def as_dict(self) -> dict:
        return asdict(self)


class LinkTable:
    """Current state of every directed link; the topology's values are the baseline ``heal`` returns to."""

    def __init__(self, baseline: dict[tuple[str, str], float], rng: random.Random | None = None):
        self._baseline = dict(baseline)
        self._rng = rng or random.Random()
        self.links: dict[tuple[str, str], Link] = {}
        self.reset()

    def reset(self) -> None:
        self.links = {pair: Link(pair[0], pair[1], latency_ms=ms) for pair, ms in self._baseline.items()}

    def get(self, src: str, dst: str) -> Link:
        return self.links.get((src, dst)) or Link(src, dst)

    def pairs(self, src: str, dst: str) -> list[tuple[str, str]]:
        """Directed pairs matching ``src``/``dst``, where ``*`` matches any region."""
        return [p for p in self.links if src in ("*", p[0]) and dst in ("*", p[1])]

    def set(
        self, src: str, dst: str, *, latency_ms: float | None = None, loss: float | None = None, cut: bool | None = None
    ) -> list[Link]:
        changed = []
        for pair in self.pairs(src, dst):
            link = self.links[pair]
            if latency_ms is not None:
                link.latency_ms = float(latency_ms)
            if loss is not None:
                link.loss = float(loss)
            if cut is not None:
                link.cut = bool(cut)
            changed.append(link)
        return changed

    def is_baseline(self) -> bool:
        return all(
            not link.cut and link.loss == 0 and link.latency_ms == self._baseline.get(pair, 0.0)
            for pair, link in self.links.items()
        )

    def drops(self, link: Link) -> bool:
        return link.cut or (link.loss > 0 and self._rng.random() < link.loss)

    def as_list(self) -> list[dict]:
        return [link.as_dict() for link in self.links.values()]


class EgressProxy:
    """One HTTP forward proxy per region; ``region_of_port`` resolves a destination to its region."""

    def __init__(self, table: LinkTable, region_of_port: Callable[[int], str | None]):
        self.table = table
        self._region_of_port = region_of_port
        self._runners: list[web.AppRunner] = []
        self._session: aiohttp.ClientSession | None = None
        self.urls: dict[str, str] = {}
        # node classes (fleet/supervisor/lastmile.py): the proxies of (region, class) sources, keyed "REGION/CLASS"
        self.class_urls: dict[str, str] = {}
        self.last_miles = LastMiles({})
        self._class_of_port: Callable[[int], str | None] = lambda _port: None
        self.direct_ports: set[int] = set()  # the lab's control API: reached from every process, no link applies

    def region_of_port(self, port: int) -> str | None:
        """The region of the lab process listening on ``port`` (TCP or, for mesh nodes, the same number in UDP)."""
        return self._region_of_port(port)

    def class_of_port(self, port: int) -> str | None:
        return self._class_of_port(port)

    def use_classes(self, last_miles: LastMiles, class_of_port: Callable[[int], str | None]) -> None:
        """Apply the node classes' last miles: the destination's class by its port, the source's by its proxy."""
        self.last_miles = last_miles
        self._class_of_port = class_of_port

    async def start_classes(self, sources: list[tuple[str, str]]) -> dict[str, str]:
        """One more proxy per (region, class) source: its devices send every call through it."""
        for region, node_class in sources:
            app = web.Application(client_max_size=16 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", self._handler(region, node_class))
            runner, port = await start_site(app)
            self._runners.append(runner)
            self.class_urls[f"{region}/{node_class}"] = f"http://127.0.0.1:{port}"
        return self.class_urls

    async def start(self, regions: list[str]) -> dict[str, str]:
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        for region in regions:
            app = web.Application(client_max_size=16 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", self._handler(region))
            runner, port = await start_site(app)
            self._runners.append(runner)
            self.urls[region] = f"http://127.0.0.1:{port}"
        return self.urls

    async def close(self) -> None:
        for runner in self._runners:
            await runner.cleanup()
        if self._session is not None:
            await self._session.close()

    def crossing(self, src: str, dst: str, classes: tuple[str | None, str | None] = (None, None)) -> float | None:
        """One direction of a message from region ``src`` to ``dst``: its delay in seconds, or None when it is
        dropped (a cut link, a loss draw, a last mile's loss). The region link applies between regions only; the
        last miles of both ends' classes everywhere. The HTTP proxy and the datagram relay both ask this."""
        if not self.last_miles:
            link = self.table.get(src, dst)
        else:
            base = self.table.get(src, dst) if src != dst else Link(src, dst)
            leg = self.last_miles.leg(classes)
            if leg.dropped:
                return None
            link = Link(base.src, base.dst, base.latency_ms + leg.extra_ms, base.loss, base.cut)
        if self.table.drops(link):
            return None
        return link.latency_ms / 1000

    async def _cross_leg(self, src: str, dst: str, classes: tuple[str | None, str | None]) -> bool:
        """One direction of a call: its latency, or a black hole (False) when it drops."""
        delay = self.crossing(src, dst, classes)
        if delay is None:
            await asyncio.sleep(BLACKHOLE_S)
            return False
        if delay:
            await asyncio.sleep(delay)
        return True

    def _handler(self, src: str, src_class: str | None = None):
        async def handle(request: web.Request) -> web.StreamResponse:
            if not request.raw_path.startswith("http://"):
                return web.json_response({"error": "not a proxy request"}, status=400)
            target = URL(request.raw_path)
            dst = self._region_of_port(target.port or 80)
            direct = dst is None and (target.port or 80) in self.direct_ports
            if direct:
                dst = src
            if dst is None or target.host not in ("127.0.0.1", "localhost"):
                return web.json_response({"error": f"unknown destination {target}"}, status=502)
            classes = (None, None) if direct else (src_class, self._class_of_port(target.port or 80))
            if not direct and not await self._cross_leg(src, dst, classes):
                return web.json_response({"error": "dropped"}, status=504)
            try:
                body = await request.read()
            except ConnectionResetError:  # the caller is gone (killed, or gave up while the link held its call)
                return web.Response(status=499)
            headers = {k: v for k, v in request.headers.items() if k.lower() in ("content-type", "authorization")}
            assert self._session is not None
            try:
                async with self._session.request(
                    request.method, target, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=120)
                ) as resp:
                    payload = await resp.read()
                    status, ctype = resp.status, resp.headers.get("Content-Type", "application/json")
            except (aiohttp.ClientError, OSError, TimeoutError):
                # The destination refused or reset: pass that on as a reset to the caller.
                if request.transport is not None:
                    request.transport.close()
                raise web.HTTPBadGateway() from None
            if not direct and not await self._cross_leg(dst, src, classes):
                return web.json_response({"error": "dropped"}, status=504)
            return web.Response(body=payload, status=status, headers={"Content-Type": ctype})

        return handle
