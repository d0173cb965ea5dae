"""The link layer for datagrams: one UDP relay per region, beside the region's HTTP egress proxy.

A mesh node sends its inter-region datagrams (SWIM probes, session replication: ``fleet.agents.dgram``) to its
region's relay. The relay reads the destination port from the datagram's header, resolves its region (and node
class) as the proxy does, and asks the same link state (:meth:`fleet.supervisor.netlink.EgressProxy.crossing`)
for the one-way delay or a drop: latency, loss and partitions apply to datagrams exactly as to HTTP calls. A
dropped datagram is simply not sent (the caller times out, as with a black-holed request); a delayed one is sent
by a timer, so the relay holds no task per message.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from dataclasses import dataclass
from typing import Any

from fleet.agents.dgram import HEADER
from fleet.supervisor.netlink import EgressProxy

__all__ = ["DatagramRelay", "RelayStats", "start_relays"]

log = logging.getLogger("aftershock.fleet.supervisor.relay")
_HOST = "127.0.0.1"


@dataclass
class RelayStats:
    forwarded: int = 0
    dropped: int = 0
    unknown: int = 0  # a destination port no node of the lab holds (a stale member's old port)


class DatagramRelay(asyncio.DatagramProtocol):
    """Region ``region``'s datagram egress."""

    def __init__(self, region: str, proxy: EgressProxy, stats: RelayStats):
        self.region = region
        self.proxy = proxy
        self.stats = stats
        self.transport: asyncio.DatagramTransport | None = None
        self.loop = asyncio.get_running_loop()

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, _addr: Any) -> None:
        try:
            dst_port, src_port = HEADER.unpack_from(data)
        except struct.error:
            self.stats.unknown += 1
            return
        dst = self.proxy.region_of_port(dst_port)
        if dst is None:
            self.stats.unknown += 1
            return
        delay = self.proxy.crossing(self.region, dst, (self.proxy.class_of_port(src_port),
                                                      self.proxy.class_of_port(dst_port)))
        if delay is None:
            self.stats.dropped += 1
            return
        self.stats.forwarded += 1
        if delay > 0:
            self.loop.call_later(delay, self._send, data, dst_port)
        else:
            self._send(data, dst_port)

    def _send(self, data: bytes, port: int) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(data, (_HOST, port))

    def error_received(self, exc: Exception) -> None:
        log.debug("relay %s: %s", self.region, exc)


async def start_relays(regions: list[str], proxy: EgressProxy) -> tuple[dict[str, int], list[asyncio.BaseTransport],
                                                                       RelayStats]:
    """One relay per region on a free loopback port: (region -> port, their transports to close, shared stats)."""
    loop = asyncio.get_running_loop()
    stats = RelayStats()
    ports: dict[str, int] = {}
    transports: list[asyncio.BaseTransport] = []
    for region in regions:
        transport, _ = await loop.create_datagram_endpoint(lambda r=region: DatagramRelay(r, proxy, stats),
                                                           local_addr=(_HOST, 0))
        transports.append(transport)
        ports[region] = transport.get_extra_info("sockname")[1]
    return ports, transports, stats
