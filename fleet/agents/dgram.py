"""JSON calls over UDP datagrams: the mesh's SWIM probes and session replication, as memberlist sends its probes.

A call over HTTP costs a lab process a connection, a request parser and a response on both ends, and twice that
through the link layer's proxy; a probe or a replication batch is a few hundred bytes that fit one datagram.
:class:`DatagramNet` is the :class:`fleet.agents.net.Transport` seam over UDP: a call is one request datagram and
one reply datagram, matched by an id, and a reply that never comes is a :class:`NetTimeout` (a dead, paused or
partitioned peer, a dropped datagram), as on the wire. A node serves the same :data:`JsonRoutes` on UDP as on HTTP,
on the *same port number* as its HTTP server, so its URL names both and the link layer maps either to its region.

Inter-region datagrams go through the source region's relay (``fleet.supervisor.relay``), which applies the
link's latency, loss and cuts exactly as the HTTP proxy does; a reply crosses back through the replier's relay
(the reverse link). The 4-byte header tells the relay where a datagram goes and the receiver where to answer::

    !HH  destination port, source port      then   orjson body
    request  {"q": id, "p": path, "b": body, "g": source region}   (id 0: a notification, never answered)
    reply    {"a": id, "b": reply}   or   {"a": id, "e": error}

Large exchanges (SWIM's push-pull sync of a whole member table) stay on HTTP, as memberlist keeps them on TCP.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import struct
from collections.abc import Mapping
from typing import Any

import orjson

from fleet.agents.net import JsonRoutes, NetError, NetTimeout

__all__ = ["DatagramNet", "DatagramTooLarge", "HEADER", "MAX_DATAGRAM", "port_of"]

log = logging.getLogger("aftershock.fleet.dgram")

HEADER = struct.Struct("!HH")
#: The largest datagram sent (loopback carries 64 KiB); a batch that does not fit is split by its sender.
MAX_DATAGRAM = 60_000
_HOST = "127.0.0.1"


class DatagramTooLarge(NetError):
    """The message does not fit one datagram: split it (``fleet.agents.sessions.Replicator`` does)."""


def port_of(url: str) -> int:
    """``http://127.0.0.1:PORT[/path]`` -> PORT."""
    return int(url.rsplit(":", 1)[1].split("/", 1)[0])


def _target(url: str) -> tuple[int, str]:
    """``http://127.0.0.1:PORT/path`` -> (PORT, ``/path``): where a datagram goes and which route it asks for."""
    return port_of(url), "/" + url.split("://", 1)[-1].split("/", 1)[-1]


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, owner: DatagramNet):
        self.owner = owner

    def datagram_received(self, data: bytes, _addr: Any) -> None:
        self.owner._received(data)

    def error_received(self, exc: Exception) -> None:  # an ICMP error for an earlier send: the call times out
        log.debug("datagram error: %s", exc)


class DatagramNet:
    """One process's UDP endpoint: calls to peers (:class:`fleet.agents.net.Transport`) and the routes it serves.

    ``relays`` maps each region to its relay's UDP port; a call to another region goes through this region's."""

    def __init__(self, region: str, relays: Mapping[str, int], routes: JsonRoutes | None = None):
        self.region = region
        self.relays = dict(relays)
        self.routes: JsonRoutes = dict(routes or {})
        self.port = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future] = {}
        self._handling: set[asyncio.Task] = set()
        self.sent = self.received = 0

    async def bind(self, port: int = 0) -> int:
        """Bind ``127.0.0.1:port`` (0: any free port; OSError when taken) and return the port."""
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: _Endpoint(self), local_addr=(_HOST, port))
        self._transport = transport
        self.port = transport.get_extra_info("sockname")[1]
        return self.port

    async def start(self) -> None:
        if self._transport is None:
            await self.bind()

    async def close(self) -> None:
        for task in list(self._handling):
            task.cancel()
        for future in self._pending.values():
            future.cancel()
        self._pending.clear()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # ---- sending ------------------------------------------------------------------------------
    def _send(self, dst_region: str, dst_port: int, message: dict[str, Any]) -> None:
        data = HEADER.pack(dst_port, self.port) + orjson.dumps(message)
        if len(data) > MAX_DATAGRAM:
            raise DatagramTooLarge(f"{len(data)} bytes do not fit one datagram (at most {MAX_DATAGRAM})")
        if self._transport is None:
            raise NetError("the datagram endpoint is closed")
        via = dst_port if dst_region == self.region else self.relays.get(self.region)
        if via is None:
            raise NetError(f"no relay for region {self.region}: cannot reach {dst_region}")
        self._transport.sendto(data, (_HOST, via))
        self.sent += 1

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
        """One request datagram, its reply or :class:`NetTimeout`; ``(200, reply)`` like the HTTP transport."""
        dst_port, path = _target(url)
        call_id = next(self._ids)
        future: asyncio.Future = asyncio.get_running_loop().create_future()
        self._pending[call_id] = future
        try:
            self._send(dst_region, dst_port, {"q": call_id, "p": path, "b": body, "g": self.region})
            async with asyncio.timeout(timeout_s):
                reply = await future
        except TimeoutError:
            raise NetTimeout(f"{method} {url}: no answer in {timeout_s:.2f}s (udp)") from None
        finally:
            self._pending.pop(call_id, None)
        if "e" in reply:
            raise NetError(f"{method} {url}: {reply['e']}")
        return 200, reply.get("b")

    def notify(self, dst_region: str, url: str, body: Any) -> None:
        """A one-way message (asynchronous replication: nobody waits for an acknowledgement, so a lost datagram
        is a lost copy, as a crash right after a write would be); raises only when it cannot be sent at all."""
        dst_port, path = _target(url)
        self._send(dst_region, dst_port, {"q": 0, "p": path, "b": body, "g": self.region})

    # ---- receiving ----------------------------------------------------------------------------
    def _received(self, data: bytes) -> None:
        self.received += 1
        try:
            _dst, src_port = HEADER.unpack_from(data)
            message = orjson.loads(data[HEADER.size:])
        except (struct.error, orjson.JSONDecodeError):
            log.debug("dropped a malformed datagram of %d bytes", len(data))
            return
        if "a" in message:
            future = self._pending.get(message["a"])
            if future is not None and not future.done():
                future.set_result(message)
            return  # a reply nobody waits for any more (it came after the timeout): dropped
        handler = self.routes.get(message.get("p", ""))
        origin = str(message.get("g", self.region))
        if handler is None:
            self._answer(origin, src_port, {"a": message.get("q"), "e": "HTTP 404"})
            return
        task = asyncio.ensure_future(handler(message.get("b") or {}))
        self._handling.add(task)
        if not message.get("q"):  # a notification: nobody waits for the answer
            task.add_done_callback(self._handling.discard)
            return
        task.add_done_callback(lambda t: self._replied(t, origin, src_port, message.get("q")))

    def _replied(self, task: asyncio.Task, origin: str, src_port: int, call_id: Any) -> None:
        self._handling.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.warning("datagram handler failed: %s", exc)
            self._answer(origin, src_port, {"a": call_id, "e": "HTTP 500"})
            return
        self._answer(origin, src_port, {"a": call_id, "b": task.result()})

    def _answer(self, origin: str, src_port: int, reply: dict[str, Any]) -> None:
        try:
            self._send(origin, src_port, reply)
        except NetError as exc:  # too large, or closing: the caller times out
            log.debug("reply to port %d not sent: %s", src_port, exc)
