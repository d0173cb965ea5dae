"""The lab's HTTP API: routes, JSON parsing and error mapping. The operations live in the supervisor's
components; this module sees them through :class:`ControlTarget`, so it can be served (and tested) over
anything that offers those few methods."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from aiohttp import web

from fleet.agents.net import token_middleware
from fleet.supervisor.deadman import ACTOR_HEADER, LEASE_HEADER, DeadMan
from fleet.supervisor.faults import Faults
from fleet.supervisor.records import ControlError

__all__ = ["ControlTarget", "control_app"]

Op = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class ControlTarget(Protocol):
    """What the control API acts on: the faults, the provisioning a deployment asks for, the lab's state."""

    faults: Faults

    async def spawn_replacement(self, replaces: str, region: str, by: str | None) -> dict[str, Any]: ...

    async def take_over(self, hub: str, primary: str) -> dict[str, Any]: ...

    async def scale_up(self, region: str, nodes: int, by: str | None, hub: str | None = None,
                       signal: float | None = None, decided_at: float | None = None) -> dict[str, Any]: ...

    async def remove_node(self, node: str, by: str | None, signal: float | None = None,
                          decided_at: float | None = None) -> dict[str, Any]: ...

    def status(self) -> dict[str, Any]: ...

    def directory(self) -> dict[str, Any]: ...

    def operation(self) -> AbstractAsyncContextManager[None]:
        """Held around every change that awaits: one at a time, and the lab state written when it succeeds."""
        ...

    def write_state(self) -> None: ...


def _ops(target: ControlTarget) -> dict[str, Op]:
    f = target.faults
    return {
        "/kill-node": lambda b: f.kill_node(b["node"], by=b.get("by")),
        "/kill-agent": lambda b: f.kill_agent(b["agent"], by=b.get("by")),
        "/kill-region": lambda b: f.kill_region(b["region"]),
        "/restore-region": lambda b: f.restore_region(b["region"]),
        "/restart-node": lambda b: f.restart_node(b["node"], by=b.get("by")),
        "/pause-node": lambda b: f.pause_node(b["node"]),
        "/throttle-node": lambda b: f.throttle_node(b["node"], b["cpu_percent"]),
        "/unthrottle-node": lambda b: f.unthrottle_node(b["node"]),
        "/resume-node": lambda b: f.resume_node(b["node"]),
        "/heal": lambda b: f.heal(),
        "/provision/restart-agent": lambda b: f.restart_agent(b["agent"], by=b.get("by")),
        "/provision/restart-node": lambda b: f.restart_node(b["node"], by=b.get("by")),
        "/provision/spawn-node": lambda b: target.spawn_replacement(b["replaces"], b["region"], b.get("by")),
        "/provision/take-over": lambda b: target.take_over(b["hub"], b["primary"]),
        "/provision/scale-up": lambda b: target.scale_up(b["region"], int(b.get("nodes", 1)), b.get("by"),
                                                         b.get("hub"), b.get("signal"), b.get("decided_at")),
        "/provision/remove-node": lambda b: target.remove_node(b["node"], b.get("by"), b.get("signal"),
                                                               b.get("decided_at")),
    }


def control_app(target: ControlTarget, token: str, deadman: DeadMan | None = None) -> web.Application:
    """The control API (chaos) and the provisioning API (the deployments' orchestrators), token-guarded.

    With a ``deadman`` (fleet/supervisor/deadman.py): injections are refused under an emergency stop (423),
    every fault applied is recorded with the lease it came under, and the lease routes are served.
    """
    app = web.Application(middlewares=[token_middleware(token, ("/",))])

    def refused(request: web.Request, body: dict[str, Any]) -> web.Response | None:
        reason = deadman.refusal(request.path, body) if deadman else None
        return None if reason is None else web.json_response({"error": reason}, status=423)

    def noted(request: web.Request, body: dict[str, Any], result: dict[str, Any]) -> None:
        if deadman:
            deadman.note(request.path, body, result, request.headers.get(LEASE_HEADER),
                         request.headers.get(ACTOR_HEADER))

    def handler(op: Op):
        async def handle(request: web.Request) -> web.Response:
            try:
                body = await request.json() if request.can_read_body else {}
            except json.JSONDecodeError:
                return web.json_response({"error": "body is not JSON"}, status=400)
            if not isinstance(body, dict):
                return web.json_response({"error": "body must be a JSON object"}, status=400)
            if (refusal := refused(request, body)) is not None:
                return refusal
            try:
                async with target.operation():
                    result = await op(body)
                noted(request, body, result)
            except KeyError as exc:
                return web.json_response({"error": f"missing field {exc.args[0]!r}"}, status=400)
            except ControlError as exc:
                return web.json_response({"error": str(exc)}, status=exc.status)
            return web.json_response(result)

        return handle

    for path, op in _ops(target).items():
        app.router.add_post(path, handler(op))

    async def link(request: web.Request) -> web.Response:
        """Link changes never wait for a slow operation (a region being restarted): one synchronous step."""
        try:
            body = await request.json()
            if not isinstance(body, dict):
                raise TypeError
            if (refusal := refused(request, body)) is not None:
                return refusal
            result = target.faults.set_link(body)
            noted(request, body, result)
        except ControlError as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)
        except (json.JSONDecodeError, TypeError):
            return web.json_response({"error": "body must be a JSON object"}, status=400)
        target.write_state()
        return web.json_response(result)

    async def status(_r: web.Request) -> web.Response:
        return web.json_response(target.status())

    async def directory(_r: web.Request) -> web.Response:
        return web.json_response(target.directory())

    if deadman is not None:
        _lease_routes(app, deadman)
    app.router.add_post("/link", link)
    app.router.add_get("/status", status)
    app.router.add_get("/directory", directory)
    return app


def _lease_routes(app: web.Application, deadman: DeadMan) -> None:
    """Leases never wait behind the operation lock: a renewal stuck behind a slow restart would expire."""
    routes = {"/lease": deadman.open_lease, "/lease/renew": deadman.renew, "/lease/release": deadman.release}

    def handler(op: Callable[[dict[str, Any]], dict[str, Any]]):
        async def handle(request: web.Request) -> web.Response:
            try:
                body = await request.json() if request.can_read_body else {}
                if not isinstance(body, dict):
                    raise TypeError
                return web.json_response(op(body))
            except (json.JSONDecodeError, TypeError):
                return web.json_response({"error": "body must be a JSON object"}, status=400)
            except ControlError as exc:
                return web.json_response({"error": str(exc)}, status=exc.status)

        return handle

    for path, op in routes.items():
        app.router.add_post(path, handler(op))

    async def faults(_r: web.Request) -> web.Response:
        return web.json_response({"faults": deadman.active(), "leases": [v.as_dict() for v in deadman.leases.values()]})

    app.router.add_get("/faults", faults)
