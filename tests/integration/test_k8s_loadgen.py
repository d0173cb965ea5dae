"""The load generator against a service URL: a real aiohttp server on a loopback port 0 stands in for the
user's service; the request log it writes is read back with core.logs, the format's one owner."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp import web

from core.logframes import read_request_log
from core.wait import wait_until
from engines.kubernetes.loadgen import BackgroundLoad, ServiceLoad
from engines.kubernetes.target import LoadShape, RequestShape


async def _serve(handler: Callable[[web.Request], Awaitable[web.Response]],
                 body: Callable[[str], Awaitable[Any]]) -> Any:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    try:
        return await body(f"http://127.0.0.1:{port}")
    finally:
        await runner.cleanup()


def test_requests_carry_the_shape_and_every_outcome_lands_in_the_request_log(tmp_path: Path) -> None:
    seen: list[dict[str, Any]] = []
    turns: dict[str, int] = {}

    async def handler(request: web.Request) -> web.Response:
        body = await request.json()
        seen.append({"path": request.path, "auth": request.headers.get("Authorization"), **body})
        n = len(seen)
        if n % 5 == 0:
            return web.json_response({"error": "overloaded"}, status=503)
        if n % 7 == 0:
            await asyncio.sleep(1.0)  # longer than the client's timeout
        turns[body["session"]] = turns.get(body["session"], 0) + 1
        return web.json_response({"agent": f"pod-{n % 3}", "region": "zone-a", "turn": turns[body["session"]]})

    shape = RequestShape(path="/v1/task", headers={"Authorization": "Bearer t"},
                         body={"task": "{task}", "session": "{session}", "work_ms": "{work_ms}", "note": "s={session}"})
    load = ServiceLoad("", shape, LoadShape(tasks_per_s=60, sessions=20, work_ms=5, timeout_s=0.3),
                       tmp_path / "requests.csv", seed=4)

    async def body(url: str) -> Any:
        load.service_url = url
        return await load.run(duration_s=1.5)

    counts = asyncio.run(_serve(handler, body))
    log = read_request_log(tmp_path / "requests.csv")
    assert len(log) == sum(counts.values()) == len(seen) >= 40
    assert set(log["outcome"]) == {"ok", "error", "timeout"}
    assert (log["outcome"] == "error").sum() == counts["error"] >= len(seen) // 5 - 1
    assert (log[log["outcome"] == "timeout"]["latency_s"] >= 0.29).all()
    ok = log[log["outcome"] == "ok"]
    assert set(ok["agent"]) <= {"pod-0", "pod-1", "pod-2"} and set(ok["served_region"]) == {"zone-a"}
    assert set(log["client_region"]) == {"external"} and log["task"].is_unique
    first = seen[0]
    assert first["path"] == "/v1/task" and first["auth"] == "Bearer t"
    assert isinstance(first["work_ms"], float) and first["note"] == f"s={first['session']}"
    assert (log["end"] >= log["ts"]).all()


def test_the_same_seed_sends_the_same_sessions_in_the_same_order(tmp_path: Path) -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({})

    def sessions(seed: int, name: str) -> list[str]:
        load = ServiceLoad("", RequestShape(), LoadShape(tasks_per_s=100, sessions=1000), tmp_path / name, seed=seed)

        async def body(url: str) -> Any:
            load.service_url = url
            return await load.run(duration_s=0.5)

        asyncio.run(_serve(handler, body))
        return list(read_request_log(tmp_path / name).sort_values("ts")["session"])

    a, b, c = sessions(1, "a.csv"), sessions(1, "b.csv"), sessions(2, "c.csv")
    n = min(len(a), len(b), 20)
    assert n >= 15 and a[:n] == b[:n] and a[:n] != c[:n]


def test_an_unreachable_service_is_logged_as_errors_and_the_background_load_stops(tmp_path: Path) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    load = ServiceLoad(f"http://127.0.0.1:{port}", RequestShape(), LoadShape(tasks_per_s=50, timeout_s=0.5),
                       tmp_path / "r.csv")
    bg = BackgroundLoad(load).start()
    wait_until(lambda: load.counts["error"] >= 5, 10, interval_s=0.05, what="refused requests")
    counts = bg.stop()
    assert not bg._thread.is_alive() and bg.error is None
    log = read_request_log(tmp_path / "r.csv")
    assert set(log["outcome"]) == {"error"} and len(log) == sum(counts.values())
