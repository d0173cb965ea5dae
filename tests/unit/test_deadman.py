"""The dead-man's rules on stand-ins for the supervisor's components and a virtual clock (no process, no socket):
whose faults are reverted when, what the stop file does, and what a stalled loop must not do."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from core.audit import read_audit
from core.logs import EventLog
from core.stop import set_stop
from fleet.supervisor.deadman import DeadMan
from fleet.supervisor.netlink import LinkTable
from fleet.supervisor.records import ControlError, NodeRecord

BASE = {("r1", "r2"): 20.0, ("r2", "r1"): 20.0}


class Topo:
    def link_latency_ms(self, a: str, b: str) -> float:
        return BASE[(a, b)]


class StandInFaults:
    """The operations the dead-man calls, recording them (the real ones act on processes)."""

    def __init__(self, links: LinkTable, nodes: dict[str, NodeRecord]):
        self.links, self.nodes, self.calls = links, nodes, []

    async def resume_node(self, name: str) -> dict[str, Any]:
        self.calls.append(("resume", name))
        self.nodes[name].status = "running"
        return {}

    async def unthrottle_node(self, name: str) -> dict[str, Any]:
        self.calls.append(("unthrottle", name))
        self.nodes[name].cpu_percent = None
        return {}

    async def restart_node(self, name: str, by: str | None = None) -> dict[str, Any]:
        self.calls.append(("restart", name))
        self.nodes[name].status = "running"
        return {}

    async def restart_agent(self, agent: str, by: str | None = None) -> dict[str, Any]:
        return {}

    async def restore_region(self, region: str) -> dict[str, Any]:
        return {}

    async def heal(self) -> dict[str, Any]:
        self.calls.append(("heal", "all"))
        self.links.reset()
        for rec in self.nodes.values():
            rec.status, rec.cpu_percent = "running", None
        return {"links": "reset"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def lab(tmp_path: Path) -> Any:
    links = LinkTable(BASE)
    nodes = {n: NodeRecord(n, r, "agent", [f"{n}-a1"], status="running") for n, r in (("n1", "r1"), ("n2", "r2"))}
    faults = StandInFaults(links, nodes)
    clock = Clock()

    @contextlib.asynccontextmanager
    async def operation() -> AsyncIterator[None]:
        yield

    home = tmp_path / "home"
    (home / "labs" / "lab1").mkdir(parents=True)
    deadman = DeadMan("lab1", home, 60.0, roster=nodes.values(), faults=faults, topology=Topo(),
                      events=EventLog(home / "labs" / "lab1" / "events.jsonl"), operation=operation, clock=clock)
    return deadman, faults, links, nodes, clock, home


def advance(deadman: DeadMan, clock: Clock, seconds: float, renew: tuple[str, ...] = ()) -> None:
    """Let ``seconds`` pass as the supervisor lives them: a tick every 0.25 s, the given leases renewed on time."""
    for _ in range(round(seconds / 0.25)):
        clock.now += 0.25
        for lease in renew:
            deadman.renew({"lease": lease})
        asyncio.run(deadman.tick())


def cut(deadman: DeadMan, links: LinkTable, lease: str | None, who: str = "user a") -> None:
    body = {"src": "r1", "dst": "r2", "cut": True}
    changed = links.set("r1", "r2", cut=True)
    deadman.note("/link", body, {"links": [li.as_dict() for li in changed]}, lease, who)


def test_a_lease_not_renewed_has_its_faults_reverted_and_audited(lab: Any) -> None:
    deadman, faults, links, nodes, clock, home = lab
    lease = deadman.open_lease({"holder": "user a", "pid": os.getpid(), "run": "r-1", "ttl_s": 2.0})["lease"]
    cut(deadman, links, lease)
    nodes["n2"].status = "paused"
    deadman.note("/pause-node", {"node": "n2"}, {"paused": True}, lease, None)
    assert {f["kind"] for f in deadman.active()} == {"link", "node_paused"}
    advance(deadman, clock, 10, renew=(lease,))  # renewed on time: nothing happens
    assert links.get("r1", "r2").cut
    advance(deadman, clock, 1.75)
    assert links.get("r1", "r2").cut, "not yet: the ttl is 2 s"
    advance(deadman, clock, 0.5)
    assert not links.get("r1", "r2").cut and nodes["n2"].status == "running"
    assert ("resume", "n2") in faults.calls and deadman.leases == {}
    (entry,) = read_audit(home, actions={"deadman"})[0]
    assert entry.run == "r-1" and sorted(entry.detail["faults"]) == ["link:r1->r2", "node_paused:n2"]
    with pytest.raises(ControlError) as gone:
        deadman.renew({"lease": lease})
    assert gone.value.status == 404


def test_a_dead_pid_is_acted_on_at_the_next_tick(lab: Any) -> None:
    deadman, _faults, links, _nodes, _clock, _home = lab
    lease = deadman.open_lease({"holder": "user a", "pid": 2**22 + 4321})["lease"]  # no such process
    cut(deadman, links, lease)
    asyncio.run(deadman.tick())
    assert not links.get("r1", "r2").cut


def test_only_the_dead_controllers_faults_go(lab: Any) -> None:
    deadman, _faults, links, nodes, clock, _home = lab
    dead = deadman.open_lease({"holder": "user a", "pid": os.getpid(), "ttl_s": 1.0})["lease"]
    alive = deadman.open_lease({"holder": "user b", "pid": os.getpid(), "ttl_s": 4.0})["lease"]
    cut(deadman, links, dead)
    nodes["n1"].status = "killed"
    deadman.note("/kill-node", {"node": "n1"}, {"killed": True}, alive, None)
    advance(deadman, clock, 1.5, renew=(alive,))
    assert not links.get("r1", "r2").cut and nodes["n1"].status == "killed"
    assert [f["who"] for f in deadman.active()] == ["user b"]


def test_a_fault_outliving_its_maximum_duration_is_reverted(lab: Any) -> None:
    deadman, _faults, links, _nodes, clock, home = lab
    lease = deadman.open_lease({"holder": "user a", "pid": os.getpid(), "max_fault_s": 30, "ttl_s": 4})["lease"]
    assert deadman.leases[lease].max_fault_s == 30
    cut(deadman, links, lease)
    unleased_faults = deadman.open_lease({"holder": "x", "max_fault_s": 10_000})  # capped by the lab's 60 s
    assert unleased_faults["max_fault_s"] == 60
    advance(deadman, clock, 29, renew=(lease, unleased_faults["lease"]))
    assert links.get("r1", "r2").cut
    advance(deadman, clock, 1.5, renew=(lease, unleased_faults["lease"]))
    assert not links.get("r1", "r2").cut
    assert [e.target for e in read_audit(home, actions={"expired"})[0]] == ["r1->r2"]


def test_a_stalled_loop_does_not_expire_a_live_controller(lab: Any) -> None:
    deadman, _faults, links, _nodes, clock, _home = lab
    lease = deadman.open_lease({"holder": "user a", "pid": os.getpid(), "ttl_s": 2.0})["lease"]
    cut(deadman, links, lease)
    asyncio.run(deadman.tick())
    clock.now += 10  # the supervisor's loop was blocked: no renewal could be answered
    asyncio.run(deadman.tick())
    assert links.get("r1", "r2").cut and lease in deadman.leases
    advance(deadman, clock, 2.5)  # and then really no renewal
    assert not links.get("r1", "r2").cut


def test_the_stop_file_heals_everything_and_refuses_injections(lab: Any) -> None:
    deadman, faults, links, nodes, _clock, home = lab
    links.set("r2", "r1", loss=0.5)  # a fault made by hand, outside any lease
    nodes["n1"].cpu_percent = 20.0
    assert deadman.refusal("/kill-node", {"node": "n1"}) is None
    set_stop(home, "user alice", "drill")
    asyncio.run(deadman.tick())
    assert links.is_baseline() and nodes["n1"].cpu_percent is None and ("heal", "all") in faults.calls
    assert [e.detail["stop_by"] for e in read_audit(home, actions={"rollback"})[0]] == ["user alice"]
    for path, body in (("/kill-node", {"node": "n1"}), ("/pause-node", {"node": "n1"}),
                       ("/link", {"src": "r1", "dst": "r2", "cut": True}),
                       ("/link", {"src": "*", "dst": "*", "latency_ms": 500})):
        assert "user alice" in (deadman.refusal(path, body) or ""), path
    for path, body in (("/heal", {}), ("/resume-node", {"node": "n1"}),
                       ("/link", {"src": "r1", "dst": "r2", "cut": False, "loss": 0, "latency_ms": 20})):
        assert deadman.refusal(path, body) is None, path
    calls = len(faults.calls)
    asyncio.run(deadman.tick())
    assert len(faults.calls) == calls, "nothing active any more: no second heal"


@pytest.mark.parametrize("body", [{"ttl_s": 0}, {"ttl_s": 99}, {"ttl_s": "2"}, {"pid": -1}, {"pid": True},
                                  {"max_fault_s": 0}, {"max_fault_s": float("nan")}])
def test_a_malformed_lease_is_refused(lab: Any, body: dict[str, Any]) -> None:
    deadman = lab[0]
    with pytest.raises(ControlError):
        deadman.open_lease({"holder": "x", **body})
