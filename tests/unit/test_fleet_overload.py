"""Overload at the agents and the hub: a task that finds every slot busy waits in a bounded queue, or is shed with
a 429 (nothing runs); a queued task records how long it waited. Real asyncio, no socket: the hub's agents are a
fake transport (the node's tasks carry their memory, so no peer is asked)."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from core.logs import execution_log_writer
from fleet.agents.config import ChildConfig
from fleet.agents.executions import ExecutionRecorder
from fleet.agents.hub import AgentView, Hub
from fleet.agents.net import REJECTED_STATUS, NetError
from fleet.agents.node import Agent, NodeHost
from fleet.topology import load_topology

WORK_MS = 80


def _config(tmp: Path, *, role: str, queue: int, concurrency: int = 1, agents: list[str] | None = None
            ) -> ChildConfig:
    topo = load_topology("centralized")
    return ChildConfig(
        role=role, name="us-east-n1" if role == "node" else "us-east-hub", lab="overload", kind="centralized",
        topology=topo.name, region="us-east", seed=1, parent_pid=1, control_url="http://127.0.0.1:1",
        token=SecretStr("t"), proxies={}, event_log=str(tmp / "events.jsonl"), concurrency=concurrency,
        queue=queue, agents=agents or [], membership=topo.membership, health=topo.health)


class _Events:
    def __init__(self) -> None:
        self.seen: list[tuple[str, dict[str, Any]]] = []

    def emit(self, kind: str, **fields: Any) -> None:
        self.seen.append((kind, fields))


def _task(i: int, timeout_s: float = 2.0) -> dict[str, Any]:
    return {"task": f"s1.{i}", "session": "s1", "work_ms": WORK_MS, "memory": None, "timeout_s": timeout_s}


def _status_and_body(resp) -> tuple[int, dict[str, Any]]:
    return resp.status, json.loads(resp.body)


def _node(tmp: Path, queue: int) -> tuple[NodeHost, Path]:
    log = tmp / "executions.csv"
    execution_log_writer(log).close()
    cfg = _config(tmp, role="node", queue=queue, agents=["us-east-n1-a1"])
    host = NodeHost(cfg, events=_Events(), executions=ExecutionRecorder(log, node=cfg.name, region=cfg.region))
    return host, log


def _rows(host: NodeHost, log: Path) -> list[dict[str, str]]:
    host.executions.flush()
    with open(log, newline="") as fh:
        return list(csv.DictReader(fh))


def test_a_full_agent_without_a_queue_sheds_with_429_and_runs_nothing(tmp_path: Path) -> None:
    host, log = _node(tmp_path, queue=0)
    (agent,) = host.agents.values()
    agent.runner = object()  # alive without a socket

    async def go():
        return await asyncio.gather(host.serve(agent, _task(1)), host.serve(agent, _task(2)))

    (s1, b1), (s2, b2) = map(_status_and_body, asyncio.run(go()))
    assert (s1, s2) == (200, REJECTED_STATUS) and b2["rejected"] is True
    rows = _rows(host, log)
    assert [r["task"] for r in rows] == ["s1.1"] and float(rows[0]["queued_s"]) < 0.005
    assert agent.busy == 0 and agent.waiting == 0


def test_a_queue_of_one_holds_one_task_until_a_slot_frees_and_sheds_the_next(tmp_path: Path) -> None:
    host, log = _node(tmp_path, queue=1)
    (agent,) = host.agents.values()
    agent.runner = object()

    async def go():
        first = asyncio.create_task(host.serve(agent, _task(1)))
        await asyncio.sleep(0)  # the first takes the slot
        second = asyncio.create_task(host.serve(agent, _task(2)))
        await asyncio.sleep(0)  # the second waits in the queue
        third = asyncio.create_task(host.serve(agent, _task(3)))
        return await asyncio.gather(first, second, third)

    statuses = [s for s, _ in map(_status_and_body, asyncio.run(go()))]
    assert statuses == [200, 200, REJECTED_STATUS]
    rows = {r["task"]: r for r in _rows(host, log)}
    assert set(rows) == {"s1.1", "s1.2"}
    # the queued task waited about one work time for its slot, and started after the first ended
    assert float(rows["s1.2"]["queued_s"]) >= 0.8 * WORK_MS / 1000
    assert float(rows["s1.2"]["start"]) >= float(rows["s1.1"]["end"]) - 0.001


def test_a_queued_task_gives_up_at_its_timeout(tmp_path: Path) -> None:
    host, log = _node(tmp_path, queue=1)
    (agent,) = host.agents.values()
    agent.runner = object()

    async def go():
        first = asyncio.create_task(host.serve(agent, {**_task(1), "work_ms": 400}))
        await asyncio.sleep(0)
        second = asyncio.create_task(host.serve(agent, _task(2, timeout_s=0.05)))
        return await asyncio.gather(first, second)

    statuses = [s for s, _ in map(_status_and_body, asyncio.run(go()))]
    assert statuses == [200, REJECTED_STATUS] and agent.waiting == 0
    assert [r["task"] for r in _rows(host, log)] == ["s1.1"]


class _Agents:
    """The hub's agents behind a fake transport: each call takes the work time; ``dead`` ones refuse."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.dead: set[str] = set()
        self.region = "us-east"

    async def call(self, dst_region: str, method: str, url: str, *, body: Any = None, timeout_s: float,
                   ok_statuses: tuple[int, ...] = (200,), src_region: str | None = None) -> tuple[int, Any]:
        if any(url.startswith(d) for d in self.dead):
            raise NetError(f"{method} {url}: ClientConnectorError")
        self.calls.append(body)
        await asyncio.sleep(body["work_ms"] / 1000)
        return 200, {"agent": url, "memory": {"turn": 1, "by": []}, "turn": 1}


def _hub(tmp: Path, queue: int, agents: int = 1) -> tuple[Hub, _Agents]:
    hub = Hub(_config(tmp, role="hub", queue=queue))
    hub.net = net = _Agents()
    for i in range(agents):
        hub.agents[f"a{i}"] = AgentView(f"a{i}", f"n{i}", f"http://agent-{i}", concurrency=1)
    return hub, net


def test_the_hub_queues_per_live_agent_then_sheds_and_says_so(tmp_path: Path) -> None:
    hub, net = _hub(tmp_path, queue=1, agents=1)

    async def go():
        tasks = []
        for i in range(3):
            tasks.append(asyncio.create_task(hub.dispatch(_task(i))))
            await asyncio.sleep(0)
        return await asyncio.gather(*tasks)

    results = [_status_and_body(r) for r in asyncio.run(go())]
    assert [s for s, _ in results] == [200, 200, REJECTED_STATUS]
    assert len(net.calls) == 2 and net.calls[0]["queued_s"] == 0
    assert net.calls[1]["queued_s"] >= 0.8 * WORK_MS / 1000  # the agent records the hub's wait
    assert hub.waiting == 0 and all(a.busy == 0 for a in hub.agents.values())


def test_the_hub_with_no_live_agent_fails_rather_than_sheds(tmp_path: Path) -> None:
    hub, net = _hub(tmp_path, queue=4, agents=2)
    for agent in hub.agents.values():
        agent.alive = False
    status, body = _status_and_body(asyncio.run(hub.dispatch(_task(1))))
    assert status == 503 and not body.get("rejected") and net.calls == []
    # agents that refuse the call: tried, so a failure (503), never a shed
    for agent in hub.agents.values():
        agent.alive = True
    net.dead = {"http://agent-0", "http://agent-1"}
    status, _ = _status_and_body(asyncio.run(hub.dispatch(_task(2))))
    assert status == 503


def test_agent_queue_bookkeeping_survives_cancellation() -> None:
    agent = Agent("a1", concurrency=1, queue=2)
    agent.runner = object()
    agent.busy = 1

    async def go():
        waiter = asyncio.create_task(agent.wait_for_slot(5.0))
        await asyncio.sleep(0.01)
        assert agent.waiting == 1
        waiter.cancel()
        await asyncio.gather(waiter, return_exceptions=True)

    asyncio.run(go())
    assert agent.waiting == 0


def test_a_task_with_malformed_numbers_is_a_400_and_holds_no_slot(tmp_path: Path) -> None:
    host, log = _node(tmp_path, queue=1)
    (agent,) = host.agents.values()
    agent.runner = object()
    for bad in ({"timeout_s": "soon"}, {"queued_s": [1]}):
        status, body = _status_and_body(asyncio.run(host.serve(agent, {**_task(1), **bad})))
        assert status == 400 and body["error"] == "malformed task"
    assert agent.busy == 0 and agent.waiting == 0 and _rows(host, log) == []
