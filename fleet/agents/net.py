"""The network as lab processes see it: direct calls within a region, the region's egress link across.

Lab processes are configured with their region's egress proxy the way a pod is given ``HTTP_PROXY``;
the link layer behind it (``fleet.supervisor.netlink``) applies latency, loss and partitions. Agent code never
learns whether a link is being tampered with.

The seam is :class:`Transport` (what agent code calls) and :data:`JsonRoutes` (what a process serves: path to
a coroutine taking and returning JSON). :class:`Network` and the aiohttp apps built by :func:`add_json_routes`
are the real sockets; ``fleet.agents.memnet`` puts the same routes on an in-memory network for unit tests.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

import aiohttp
from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = [
    "Transport",
    "JsonRoutes",
    "Network",
    "NetError",
    "NetTimeout",
    "NetRejected",
    "REJECTED_STATUS",
    "add_json_routes",
    "metrics_handler",
    "start_site",
    "token_middleware",
]

#: What a lab process serves over POST: path -> coroutine from the request's JSON body to the reply's JSON.
JsonRoutes = Mapping[str, Callable[[Any], Awaitable[Any]]]


class NetError(Exception):
    """A call failed: refused, reset, or answered with a server error."""


class NetTimeout(NetError):
    """A call got no answer in time (dead peer, black-holed link, paused process)."""


class NetRejected(NetError):
    """The server shed the call (HTTP 429): it was refused before any work began, so a retry is safe."""


#: The status a saturated agent, hub or peer answers with when it sheds a task (nothing was run).
REJECTED_STATUS = 429


class Transport(Protocol):
    """How agent code calls another process: one JSON request, :class:`NetTimeout` or :class:`NetError` or
    ``(status, json)``. ``dst_region`` is where the caller believes the destination is (another region means
    the call goes through the egress link); ``src_region`` overrides the caller's own region."""

    region: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

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
    ) -> tuple[int, Any]: ...


class Network:
    """Sends JSON calls from one region over real sockets; ``proxies`` maps each region to its egress proxy."""

    def __init__(self, region: str, proxies: Mapping[str, str], *, headers: Mapping[str, str] | None = None,
                 egress: str | None = None, proxy_local: bool = False):
        self.region = region
        self.proxies = dict(proxies)
        # A device with a last mile (fleet/nodeclasses.py) sends every call of its own through ``egress``; with
        # ``proxy_local`` in-region calls go through the region's proxy too (fleet/supervisor/lastmile.py).
        self.egress = egress
        self.proxy_local = proxy_local
        self._headers = dict(headers or {})
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(limit=0, ttl_dns_cache=None, enable_cleanup_closed=True)
        self._session = aiohttp.ClientSession(connector=connector, headers=self._headers)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

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
        """One JSON request; raises :class:`NetTimeout` or :class:`NetError`, else (status, json).

        ``src_region`` overrides the caller's region (the load generator plays clients in every region).
        """
        assert self._session is not None, "Network.start() first"
        src = src_region or self.region
        proxy = self.proxies.get(src) if dst_region != src or self.proxy_local else None
        if self.egress and src_region is None:
            proxy = self.egress
        try:
            async with asyncio.timeout(timeout_s):
                async with self._session.request(method, url, json=body, proxy=proxy) as resp:
                    payload = await resp.read()
        except TimeoutError:
            raise NetTimeout(f"{method} {url}: no answer in {timeout_s:.2f}s") from None
        except (aiohttp.ClientError, OSError) as exc:
            raise NetError(f"{method} {url}: {type(exc).__name__}") from None
        if resp.status not in ok_statuses:
            kind = NetRejected if resp.status == REJECTED_STATUS else NetError
            raise kind(f"{method} {url}: HTTP {resp.status}")
        try:
            return resp.status, (json.loads(payload) if payload else None)
        except ValueError:  # a proxy's or a crashed handler's HTML page: as unusable as no answer
            raise NetError(f"{method} {url}: the answer is not JSON") from None


def add_json_routes(app: web.Application, routes: JsonRoutes) -> None:
    """Serve each of ``routes`` as ``POST path`` on an aiohttp app: JSON body in, JSON reply out."""

    def wrap(handler: Callable[[Any], Awaitable[Any]]):
        async def handle(request: web.Request) -> web.Response:
            try:
                body = await request.json() if request.can_read_body else {}
            except json.JSONDecodeError:
                return web.json_response({"error": "body is not JSON"}, status=400)
            return web.json_response(await handler(body))

        return handle

    for path, handler in routes.items():
        app.router.add_post(path, wrap(handler))


def metrics_handler(registry: CollectorRegistry):
    """An aiohttp handler serving ``registry`` in the Prometheus text format."""

    async def handle(_request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return handle


def token_middleware(token: str, protected_prefixes: tuple[str, ...]):
    """Require ``Authorization: Bearer <token>`` on paths under ``protected_prefixes``."""

    @web.middleware
    async def middleware(request: web.Request, handler):
        authorised = request.headers.get("Authorization", "") == f"Bearer {token}"
        if request.path.startswith(protected_prefixes) and not authorised:
            return web.json_response({"error": "missing or wrong token"}, status=401)
        return await handler(request)

    return middleware


async def start_site(app: web.Application, host: str = "127.0.0.1", port: int = 0) -> tuple[web.AppRunner, int]:
    """Serve ``app`` on ``host:port`` (port 0: any free port) and return the runner and bound port."""
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, host, port, reuse_address=True)
    await site.start()
    return runner, runner.addresses[0][1]
