"""The lab's HTTP API: routes, JSON parsing and error mapping; the operations live in the supervisor."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from aiohttp import web

from fleet.agents.net import token_middleware
from fleet.supervisor.records import ControlError

if TYPE_CHECKING:
    from fleet.supervisor.supervisor import Supervisor

__all__ = ["control_app"]


def control_app(self: Supervisor) -> web.Application:
    """The control API (chaos) and the provisioning API (the deployments' orchestrators), token-guarded."""
    app = web.Application(middlewares=[token_middleware(self.token, ("/",))])
    ops = {
        "/kill-node": lambda b: self.kill_node(b["node"], by=b.get("by")),
        "/kill-agent": lambda b: self.kill_agent(b["agent"], by=b.get("by")),
        "/kill-region": lambda b: self.kill_region(b["region"]),
        "/restore-region": lambda b: self.restore_region(b["region"]),
        "/restart-node": lambda b: self.restart_node(b["node"], by=b.get("by")),
        "/pause-node": lambda b: self.pause_node(b["node"]),
        "/throttle-node": lambda b: self.throttle_node(b["node"], b["cpu_percent"]),
        "/unthrottle-node": lambda b: self.unthrottle_node(b["node"]),
        "/resume-node": lambda b: self.resume_node(b["node"]),
        "/heal": lambda b: self.heal(),
        "/provision/restart-agent": lambda b: self.restart_agent(b["agent"], by=b.get("by")),
        "/provision/restart-node": lambda b: self.restart_node(b["node"], by=b.get("by")),
        "/provision/spawn-node": lambda b: self.spawn_replacement(b["replaces"], b["region"], b.get("by")),
        "/provision/take-over": lambda b: self.take_over(b["hub"], b["primary"]),
    }

    def handler(op):
        async def handle(request: web.Request) -> web.Response:
            try:
                body = await request.json() if request.can_read_body else {}
            except json.JSONDecodeError:
                return web.json_response({"error": "body is not JSON"}, status=400)
            if not isinstance(body, dict):
                return web.json_response({"error": "body must be a JSON object"}, status=400)
            try:
                async with self._lock:
                    result = await op(body)
                    self.write_state()
            except KeyError as exc:
                return web.json_response({"error": f"missing field {exc.args[0]!r}"}, status=400)
            except ControlError as exc:
                return web.json_response({"error": str(exc)}, status=exc.status)
            return web.json_response(result)

        return handle

    for path, op in ops.items():
        app.router.add_post(path, handler(op))

    async def link(request: web.Request) -> web.Response:
        try:
            result = self.set_link(await request.json())
        except ControlError as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)
        except (json.JSONDecodeError, AttributeError):
            return web.json_response({"error": "body must be a JSON object"}, status=400)
        self.write_state()
        return web.json_response(result)

    async def status(_r: web.Request) -> web.Response:
        return web.json_response(self.status())

    async def directory(_r: web.Request) -> web.Response:
        return web.json_response(self.directory())

    app.router.add_post("/link", link)
    app.router.add_get("/status", status)
    app.router.add_get("/directory", directory)
    return app
