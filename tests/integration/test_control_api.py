"""The lab's control API served over a stand-in for the supervisor (``ControlTarget`` is a protocol), on a real
socket (port 0): token, routing, error mapping and one-operation-at-a-time, without starting a lab."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import aiohttp

from fleet.agents.net import start_site
from fleet.supervisor.control_api import control_app
from fleet.supervisor.records import ControlError

TOKEN = "t0ken"


class _Faults:
    def __init__(self, calls: list):
        self.calls = calls

    async def kill_node(self, node: str, by: str | None = None) -> dict[str, Any]:
        if node == "nope":
            raise ControlError("no node 'nope' in lab x (nodes: a)", 404)
        self.calls.append(("kill_node", node, by))
        await asyncio.sleep(0.05)
        return {"node": node, "killed": True}

    def set_link(self, body: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("set_link", body["src"], body["dst"]))
        return {"links": []}


class _Target:
    def __init__(self) -> None:
        self.calls: list = []
        self.faults = _Faults(self.calls)
        self.states_written = 0
        self.in_operation = 0
        self.most_at_once = 0
        self._lock = asyncio.Lock()

    async def spawn_replacement(self, replaces: str, region: str, by: str | None) -> dict[str, Any]:
        return {"replaces": replaces, "node": f"{region}-n9", "region": region}

    async def take_over(self, hub: str, primary: str) -> dict[str, Any]:
        return {"hub": hub, "spawned": []}

    def status(self) -> dict[str, Any]:
        return {"name": "x"}

    def directory(self) -> dict[str, Any]:
        return {"nodes": []}

    @contextlib.asynccontextmanager
    async def operation(self):
        async with self._lock:
            self.in_operation += 1
            self.most_at_once = max(self.most_at_once, self.in_operation)
            try:
                yield
                self.write_state()
            finally:
                self.in_operation -= 1

    def write_state(self) -> None:
        self.states_written += 1


def test_the_control_api_maps_requests_onto_its_target() -> None:
    async def main() -> None:
        target = _Target()
        runner, port = await start_site(control_app(target, TOKEN))
        url = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
                async with http.post(f"{url}/kill-node", json={"node": "a"}) as resp:
                    assert resp.status == 401
                replies = await asyncio.gather(*(
                    http.post(f"{url}/kill-node", json={"node": n, "by": "test"}, headers=auth) for n in "abc"))
                assert [r.status for r in replies] == [200, 200, 200]
                for reply in replies:
                    reply.release()
                assert target.most_at_once == 1 and target.states_written == 3
                async with http.post(f"{url}/kill-node", json={}, headers=auth) as resp:
                    assert resp.status == 400 and "missing field 'node'" in (await resp.json())["error"]
                async with http.post(f"{url}/kill-node", json={"node": "nope"}, headers=auth) as resp:
                    assert resp.status == 404 and "no node 'nope'" in (await resp.json())["error"]
                async with http.post(f"{url}/kill-node", data="[1]", headers=auth) as resp:
                    assert resp.status == 400
                async with http.post(f"{url}/link", json={"src": "a", "dst": "b", "cut": True}, headers=auth) as resp:
                    assert resp.status == 200
                async with http.post(f"{url}/provision/spawn-node", headers=auth,
                                     json={"replaces": "a", "region": "eu-west"}) as resp:
                    assert (await resp.json())["node"] == "eu-west-n9"
                async with http.get(f"{url}/status", headers=auth) as resp:
                    assert (await resp.json()) == {"name": "x"}
            assert [c[0] for c in target.calls] == ["kill_node"] * 3 + ["set_link"]
            assert target.states_written == 5  # three kills, the link, the spawn; not the refused ones
        finally:
            await runner.cleanup()

    asyncio.run(main())
