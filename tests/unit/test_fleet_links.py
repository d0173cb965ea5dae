"""The link table (``fleet.supervisor.netlink.LinkTable``) applied by the in-memory network: latency, loss and
cuts per directed region pair, seeded, in virtual time. The real-socket proxy applies the same table
(tests/e2e/test_chaos_actions.py measures it through the lab)."""

from __future__ import annotations

import asyncio
import random

import pytest

from fleet.agents.memnet import MemoryNetwork, run_virtual
from fleet.agents.net import NetError, NetTimeout
from fleet.topology import load_topology
from tests.support.memlab import link_table

TOPO = load_topology("decentralized")


async def _echo(body):
    return {"echo": body}


def _fabric(seed: int = 1) -> tuple[MemoryNetwork, dict[str, str]]:
    net = MemoryNetwork(link_table(TOPO, seed))
    urls = {r: net.serve(f"{r}-echo", r, {"/echo": _echo}) for r in TOPO.region_names}
    return net, urls


async def _rtt(net: MemoryNetwork, src: str, dst: str, url: str, timeout_s: float = 5.0) -> float:
    loop = asyncio.get_running_loop()
    started = loop.time()
    _, reply = await net.transport(src).call(dst, "POST", f"{url}/echo", body={"x": 1}, timeout_s=timeout_s)
    assert reply == {"echo": {"x": 1}}
    return loop.time() - started


def test_a_call_across_regions_takes_both_one_way_latencies() -> None:
    async def main() -> None:
        net, urls = _fabric()
        assert await _rtt(net, "us-east", "eu-west", urls["eu-west"]) == pytest.approx(0.080)
        assert await _rtt(net, "us-east", "us-east", urls["us-east"]) == 0.0
        net.links.set("us-east", "eu-west", latency_ms=200)  # one direction only
        assert await _rtt(net, "us-east", "eu-west", urls["eu-west"]) == pytest.approx(0.240)
        assert await _rtt(net, "eu-west", "us-east", urls["us-east"]) == pytest.approx(0.240)  # its reply leg
        assert await _rtt(net, "eu-west", "ap-south", urls["ap-south"]) == pytest.approx(0.120)
        net.links.reset()
        assert net.links.is_baseline()
        assert await _rtt(net, "us-east", "eu-west", urls["eu-west"]) == pytest.approx(0.080)

    run_virtual(main())


def test_a_cut_black_holes_calls_that_cross_it_and_nothing_else() -> None:
    async def main() -> None:
        net, urls = _fabric()
        changed = net.links.set("us-east", "*", cut=True)
        assert {(link.src, link.dst) for link in changed} == {("us-east", "eu-west"), ("us-east", "ap-south")}
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(NetTimeout):
            await _rtt(net, "us-east", "eu-west", urls["eu-west"], timeout_s=0.7)
        assert loop.time() - started == pytest.approx(0.7)  # no answer at all: the caller's timeout ends it
        with pytest.raises(NetTimeout):  # the request arrives, its reply would cross the cut link
            await _rtt(net, "eu-west", "us-east", urls["us-east"], timeout_s=0.7)
        assert await _rtt(net, "eu-west", "ap-south", urls["ap-south"]) == pytest.approx(0.120)
        assert await _rtt(net, "us-east", "us-east", urls["us-east"]) == 0.0

    run_virtual(main())


async def _lossy_outcomes(seed: int, loss: float, n: int) -> list[bool]:
    net, urls = _fabric(seed)
    net.links.set("us-east", "eu-west", loss=loss)
    out = []
    for _ in range(n):
        try:
            await _rtt(net, "us-east", "eu-west", urls["eu-west"], timeout_s=0.5)
            out.append(True)
        except NetTimeout:
            out.append(False)
    return out


def test_loss_drops_the_declared_share_of_crossings_reproducibly() -> None:
    n, loss = 4000, 0.3
    first = run_virtual(_lossy_outcomes(7, loss, n))
    dropped = first.count(False) / n
    sigma = (loss * (1 - loss) / n) ** 0.5
    assert abs(dropped - loss) < 4 * sigma, dropped
    assert run_virtual(_lossy_outcomes(7, loss, n)) == first  # the same seed drops the same calls
    assert run_virtual(_lossy_outcomes(8, loss, n)) != first


def test_a_killed_endpoint_refuses_at_once_a_paused_one_never_answers() -> None:
    async def main() -> None:
        net, urls = _fabric()
        loop = asyncio.get_running_loop()
        net.kill(urls["eu-west"])
        started = loop.time()
        with pytest.raises(NetError) as refused:
            await _rtt(net, "eu-west", "eu-west", urls["eu-west"])
        assert not isinstance(refused.value, NetTimeout) and loop.time() == started
        net.resume(urls["eu-west"])
        net.pause(urls["eu-west"])
        with pytest.raises(NetTimeout):
            await _rtt(net, "eu-west", "eu-west", urls["eu-west"], timeout_s=1.5)
        assert loop.time() - started == pytest.approx(1.5)
        net.resume(urls["eu-west"])
        assert await _rtt(net, "eu-west", "eu-west", urls["eu-west"]) == 0.0

    run_virtual(main())


def test_a_reply_in_flight_is_lost_when_its_process_is_killed() -> None:
    async def main() -> None:
        net = MemoryNetwork()

        async def slow(_body):
            await asyncio.sleep(1.0)
            return {"done": True}

        url = net.serve("worker", "us-east", {"/work": slow})
        call = asyncio.create_task(net.transport("us-east").call("us-east", "POST", f"{url}/work", timeout_s=5))
        await asyncio.sleep(0.5)
        net.kill(url)
        with pytest.raises(NetError):
            await call

    run_virtual(main())


def test_virtual_time_runs_a_day_of_timers_without_waiting() -> None:
    async def main() -> float:
        loop = asyncio.get_running_loop()
        await asyncio.gather(*(asyncio.sleep(random.Random(i).uniform(0, 86_400)) for i in range(100)))
        return loop.time()

    assert 80_000 < run_virtual(main()) <= 86_400
