"""Churn of devices (fleet/supervisor/churn.py) on virtual time, with a launcher that starts no process: the
schedule is seeded and followed, faults and heal leave it alone, a departed device is not replaced by the mesh."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

from fleet.agents.memnet import MemoryEvents, MemoryNetwork, run_virtual
from fleet.agents.node import NodeHost
from fleet.agents.swim import Member
from fleet.nodeclasses import Churn
from fleet.supervisor.churn import Churner, churn_phases, churn_timeline
from fleet.supervisor.faults import Faults
from fleet.supervisor.netlink import LinkTable
from fleet.supervisor.records import NodeRecord, Roster
from fleet.topology import parse_topology
from tests.support.memlab import node_config

SPEC = Churn(up_s=20, down_s=6, distribution="exponential")


def test_the_schedule_is_a_seeded_function_of_the_device() -> None:
    a = churn_timeline(SPEC, 7, "a-phone1", 600)
    assert a == churn_timeline(SPEC, 7, "a-phone1", 600)
    assert a != churn_timeline(SPEC, 7, "a-phone2", 600) != churn_timeline(SPEC, 8, "a-phone1", 600)
    assert [kind for _, kind in a] == ["left", "joined"] * (len(a) // 2) + (["left"] if len(a) % 2 else [])
    assert all(t1 < t2 for (t1, _), (t2, _) in zip(a, a[1:], strict=False))


@pytest.mark.parametrize("distribution", ["exponential", "uniform", "fixed"])
def test_up_and_down_times_have_the_means_asked(distribution: str) -> None:
    spec = Churn(up_s=20, down_s=6, distribution=distribution, min_s=0)
    phases = churn_phases(spec, 1, "a-phone1")
    pairs = [next(phases) for _ in range(3000)][1:]  # the first up time of "fixed" is a stagger
    ups, downs = [u for u, _ in pairs], [d for _, d in pairs]
    assert sum(ups) / len(ups) == pytest.approx(20, rel=0.06)
    assert sum(downs) / len(downs) == pytest.approx(6, rel=0.06)
    if distribution == "uniform":
        assert min(ups) >= 10 and max(ups) <= 30
    if distribution == "fixed":
        assert set(ups) == {20} and set(downs) == {6}


def test_fixed_churn_staggers_the_devices_and_no_time_is_below_the_floor() -> None:
    spec = Churn(up_s=20, down_s=6, distribution="fixed")
    firsts = {next(churn_phases(spec, 1, f"a-phone{i}"))[0] for i in range(1, 9)}
    assert len(firsts) == 8 and all(1.0 <= f <= 20 for f in firsts)
    short = Churn(up_s=0.2, down_s=0.2, min_s=1.5)
    phases = churn_phases(short, 1, "x")
    assert min(min(next(phases)) for _ in range(200)) == 1.5


# ---- the component, on virtual time ---------------------------------------------------------------
class FakeLauncher:
    """What Churner and Faults ask of a launcher, without processes."""

    def __init__(self) -> None:
        self.pids = iter(range(1000, 100000))

    async def kill(self, rec: NodeRecord) -> None:
        if rec.process_alive:
            rec.proc.returncode = -9  # type: ignore[union-attr]

    async def start_node(self, rec: NodeRecord, seeds: Any = None) -> None:
        await asyncio.sleep(0.3)  # a process takes a moment to start
        rec.proc = SimpleNamespace(pid=next(self.pids), returncode=None)  # type: ignore[assignment]
        rec.status = "running"


TOPO = parse_topology({
    "name": "edge", "kind": "decentralized",
    "regions": [{"name": "a", "nodes": 1, "classes": {"phone": 2}}, {"name": "b", "nodes": 1}],
    "node_classes": {"phone": {"agents_per_node": 1, "churn": SPEC.model_dump()}},
})


class Lab:
    def __init__(self) -> None:
        self.roster = Roster("x", TOPO.region_names)
        for name, region, cls in [("a-n1", "a", "default"), ("a-phone1", "a", "phone"), ("a-phone2", "a", "phone"),
                                  ("b-n1", "b", "default")]:
            rec = self.roster.add(NodeRecord(name, region, "agent", [f"{name}-a1"], node_class=cls))
            rec.proc, rec.status = SimpleNamespace(pid=1, returncode=None), "running"  # type: ignore[assignment]
        self.launcher = FakeLauncher()
        self.events = MemoryEvents(lambda: asyncio.get_running_loop().time())
        self.lock = asyncio.Lock()
        self.churn = Churner(TOPO, self.roster, self.launcher, self.events, 5, self.operation,  # type: ignore[arg-type]
                             lambda: None)
        self.faults = Faults(self.roster, self.launcher, LinkTable({}), self.events)  # type: ignore[arg-type]

    @contextlib.asynccontextmanager
    async def operation(self) -> AsyncIterator[None]:
        async with self.lock:
            yield

    def of(self, kind: str, node: str) -> list[float]:
        return [e["ts"] for e in self.events.of(kind, node)]


async def _until(seconds: float) -> None:
    await asyncio.sleep(seconds - asyncio.get_running_loop().time())


def test_devices_leave_and_rejoin_on_their_schedule_and_regular_nodes_never_do() -> None:
    async def main() -> Lab:
        lab = Lab()
        task = asyncio.create_task(lab.churn.run())
        await _until(300)
        task.cancel()
        return lab

    lab = run_virtual(main())
    for node in ("a-phone1", "a-phone2"):
        expected = churn_timeline(SPEC, 5, node, 300)
        left = [t for t, k in expected if k == "left"]
        joined = [t for t, k in expected if k == "joined"]
        assert len(left) >= 5
        assert lab.of("device_left", node) == pytest.approx(left, abs=1e-6)
        # a rejoin is logged once the process serves (0.3 s of start); the next departure keeps its time
        assert lab.of("device_joined", node) == pytest.approx([t + 0.3 for t in joined], abs=1e-6)
        assert lab.events.of("device_left", node)[0]["detail"]["class"] == "phone"
    assert lab.of("device_left", "a-n1") == lab.of("device_left", "b-n1") == []


def test_heal_leaves_an_away_device_to_its_schedule_and_churn_goes_on() -> None:
    first_left, rejoin = [t for t, _ in churn_timeline(SPEC, 5, "a-phone1", 300)][:2]

    async def main() -> tuple[Lab, dict, dict, str]:
        lab = Lab()
        task = asyncio.create_task(lab.churn.run())
        await _until(first_left + 0.01)
        away = lab.roster.node("a-phone1").status
        healed = await lab.faults.heal()
        restarted = await lab.faults.restart_node("a-phone1", by="hub")  # an orchestrator asks: not its business
        await _until(300)
        task.cancel()
        return lab, healed, restarted, away

    lab, healed, restarted, away = run_virtual(main())
    assert away == "away" and healed["restarted"] == [] and restarted["restarted"] is False
    assert lab.of("device_joined", "a-phone1")[0] == pytest.approx(rejoin + 0.3)
    assert len(lab.of("device_left", "a-phone1")) >= 3  # after the heal, the device keeps churning


def test_a_device_under_a_fault_does_not_leave_and_a_killed_one_is_left_to_heal() -> None:
    t1 = churn_timeline(SPEC, 5, "a-phone1", 300)[0][0]
    t2 = churn_timeline(SPEC, 5, "a-phone2", 300)[0][0]

    async def main() -> tuple[Lab, str]:
        lab = Lab()
        lab.roster.node("a-phone1").status = "paused"  # a gray failure holds it
        await lab.faults.kill_node("a-phone2")
        task = asyncio.create_task(lab.churn.run())
        await _until(max(t1, t2) + 60)
        status = lab.roster.node("a-phone2").status
        task.cancel()
        return lab, status

    lab, status = run_virtual(main())
    assert lab.of("device_left", "a-phone1") == [] and lab.of("device_left", "a-phone2") == []
    assert status == "killed"  # churn never brings back what a fault killed


def test_an_away_device_waits_for_its_region_to_come_back() -> None:
    left, joined = [t for t, _ in churn_timeline(SPEC, 5, "a-phone1", 300)][:2]

    async def main() -> tuple[Lab, float]:
        lab = Lab()
        task = asyncio.create_task(lab.churn.run())
        await _until(left + 0.01)
        await lab.faults.kill_region("a")  # the other devices of the region die with it
        await _until(joined + 20)
        restored_at = asyncio.get_running_loop().time()
        await lab.faults.restart_node("a-n1", by="restore")
        await _until(joined + 30)
        task.cancel()
        return lab, restored_at

    lab, restored_at = run_virtual(main())
    rejoined = lab.of("device_joined", "a-phone1")
    assert rejoined and restored_at < rejoined[0] <= restored_at + 1.0 + 0.3 + 1e-6


# ---- the mesh does not replace a churning device --------------------------------------------------------
def _host(no_replace: list[str]) -> tuple[NodeHost, list[dict]]:
    topo = parse_topology({"name": "m", "kind": "decentralized", "regions": [{"name": "a", "nodes": 2}],
                           "healing": {"restart_delay_s": 1}})
    net = MemoryNetwork()
    asks: list[dict] = []

    async def spawn(body: Any) -> dict:
        asks.append(body)
        return {"node": "a-n9"}

    control = net.serve("supervisor", "a", {"/provision/spawn-node": spawn})
    cfg = node_config("a-n1", "a", topo, replication=1).model_copy(
        update={"migrate": True, "no_replace": no_replace, "control_url": control})
    host = NodeHost(cfg, net=net.transport("a"), events=MemoryEvents(lambda: 0.0), clock=lambda: 0.0)
    assert host.swim is not None
    host.swim.rng = random.Random(1)
    return host, asks


@pytest.mark.parametrize(("dead", "replaced"), [("a-phone1", False), ("a-n2", True)])
def test_the_mesh_replaces_a_dead_node_but_not_a_churning_device(dead: str, replaced: bool) -> None:
    async def main() -> list[dict]:
        host, asks = _host(no_replace=["a-phone1", "a-phone2"])
        assert host.swim is not None
        member = Member(dead, "a", "mem://gone", state="dead")
        host.swim.members[dead] = member
        host.on_member_dead(member)
        await asyncio.sleep(5)
        return asks

    asks = run_virtual(main())
    assert [a["replaces"] for a in asks] == ([dead] if replaced else [])
