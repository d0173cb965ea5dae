"""Datagram calls and the datagram relay on real loopback UDP sockets (port 0), no lab: a call is one request and
one reply; the relay applies the link's latency both ways, and a cut or lossy link black-holes datagrams (the
caller times out) exactly as the HTTP proxy does."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import pytest

from fleet.agents.dgram import MAX_DATAGRAM, DatagramNet, DatagramTooLarge
from fleet.agents.net import NetError, NetTimeout
from fleet.supervisor.netlink import EgressProxy, LinkTable
from fleet.supervisor.relay import start_relays

LATENCY_MS = 40.0


async def _echo(body: Any) -> Any:
    return {"echo": body}


async def _boom(_body: Any) -> Any:
    raise RuntimeError("handler failed")


class _Lab:
    """Two regions a and b, one datagram endpoint in each, the relays between them."""

    def __init__(self) -> None:
        self.ports: dict[int, str] = {}
        self.table = LinkTable({("a", "b"): LATENCY_MS, ("b", "a"): LATENCY_MS}, random.Random(1))
        self.proxy = EgressProxy(self.table, self.ports.get)

    async def __aenter__(self) -> _Lab:
        relays, self.relay_transports, self.stats = await start_relays(["a", "b"], self.proxy)
        self.a = DatagramNet("a", relays, {"/echo": _echo})
        self.b = DatagramNet("b", relays, {"/echo": _echo, "/boom": _boom})
        self.a2 = DatagramNet("a", relays, {"/echo": _echo})
        for net, region in ((self.a, "a"), (self.b, "b"), (self.a2, "a")):
            self.ports[await net.bind()] = region
        return self

    async def __aexit__(self, *_exc: Any) -> None:
        for net in (self.a, self.b, self.a2):
            await net.close()
        for transport in self.relay_transports:
            transport.close()

    def url(self, net: DatagramNet, path: str = "/echo") -> str:
        return f"http://127.0.0.1:{net.port}{path}"


def test_a_call_in_region_is_direct_and_one_across_regions_crosses_the_link_both_ways() -> None:
    async def main() -> tuple[Any, Any, float, int]:
        async with _Lab() as lab:
            _, near = await lab.a.call("a", "POST", lab.url(lab.a2), body={"n": 1}, timeout_s=1)
            relayed_before = lab.stats.forwarded
            started = time.monotonic()
            _, far = await lab.a.call("b", "POST", lab.url(lab.b), body={"n": 2}, timeout_s=2)
            return near, far, time.monotonic() - started, lab.stats.forwarded - relayed_before

    near, far, elapsed, relayed = asyncio.run(main())
    assert near == {"echo": {"n": 1}} and far == {"echo": {"n": 2}}
    assert relayed == 2, "the request through a's relay, the reply through b's"
    assert elapsed >= 2 * LATENCY_MS / 1000, "the link's latency applies on the way out and on the way back"


def test_a_cut_link_times_out_until_healed_and_loss_drops_datagrams() -> None:
    async def main() -> dict[str, Any]:
        async with _Lab() as lab:
            out: dict[str, Any] = {}
            lab.table.set("a", "b", cut=True)
            with pytest.raises(NetTimeout):
                await lab.a.call("b", "POST", lab.url(lab.b), body={}, timeout_s=0.3)
            out["dropped_when_cut"] = lab.stats.dropped
            lab.table.reset()
            out["healed"] = (await lab.a.call("b", "POST", lab.url(lab.b), body={}, timeout_s=2))[1]
            lab.table.set("b", "a", loss=1.0)  # the reply's way back is lost: the call is lost all the same
            with pytest.raises(NetTimeout):
                await lab.a.call("b", "POST", lab.url(lab.b), body={}, timeout_s=0.3)
            out["dropped_total"] = lab.stats.dropped
            return out

    out = asyncio.run(main())
    assert out["dropped_when_cut"] == 1 and out["healed"] == {"echo": {}} and out["dropped_total"] == 2


def test_errors_unknown_routes_closed_peers_and_oversized_messages() -> None:
    async def main() -> None:
        async with _Lab() as lab:
            with pytest.raises(NetError, match="HTTP 404"):
                await lab.a.call("b", "POST", lab.url(lab.b, "/nothing"), body={}, timeout_s=2)
            with pytest.raises(NetError, match="HTTP 500"):
                await lab.a.call("b", "POST", lab.url(lab.b, "/boom"), body={}, timeout_s=2)
            with pytest.raises(DatagramTooLarge):
                await lab.a.call("a", "POST", lab.url(lab.a2), body={"x": "y" * MAX_DATAGRAM}, timeout_s=1)
            gone = lab.url(lab.a2)
            await lab.a2.close()  # a killed peer: nothing answers
            with pytest.raises(NetTimeout):
                await lab.a.call("a", "POST", gone, body={}, timeout_s=0.3)

    asyncio.run(main())


def test_a_reply_after_the_timeout_is_dropped_and_later_calls_still_match_their_replies() -> None:
    async def slow(body: Any) -> Any:
        await asyncio.sleep(float(body["s"]))
        return body

    async def main() -> list[Any]:
        async with _Lab() as lab:
            lab.a2.routes = {"/slow": slow}
            with pytest.raises(NetTimeout):
                await lab.a.call("a", "POST", lab.url(lab.a2, "/slow"), body={"s": 0.4}, timeout_s=0.1)
            replies = await asyncio.gather(*(lab.a.call("a", "POST", lab.url(lab.a2, "/slow"),
                                                        body={"s": 0.05 * (3 - i), "i": i}, timeout_s=2)
                                             for i in range(3)))
            deadline = time.monotonic() + 5  # the late reply of the first call arrives too: nobody waits for it
            while lab.a.received < 4 and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            assert lab.a.received == 4 and not lab.a._pending
            return [r[1]["i"] for r in replies]

    assert asyncio.run(main()) == [0, 1, 2]


def test_a_notification_reaches_its_route_across_regions_and_is_never_answered() -> None:
    got: list[Any] = []

    async def put(body: Any) -> Any:
        got.append(body)
        return {"stored": True}

    async def main() -> tuple[int, int]:
        async with _Lab() as lab:
            lab.b.routes = {"/sessions/put": put}
            lab.a.notify("b", lab.url(lab.b, "/sessions/put"), {"sessions": {"s1": {"turn": 1}}})
            deadline = time.monotonic() + 5
            while not got and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
            await lab.b.call("a", "POST", lab.url(lab.a2), body={}, timeout_s=2)  # b's answers still flow
            return lab.a.received, lab.stats.forwarded

    received, forwarded = asyncio.run(main())
    assert got == [{"sessions": {"s1": {"turn": 1}}}]
    assert received == 0, "nothing came back to the notifier"
    assert forwarded == 3, "the notification, then b's call and its reply"
