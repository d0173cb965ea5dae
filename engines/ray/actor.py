"""A lab node as a Ray actor: the same node and hub code as ``python -m fleet.agents``, in the actor's process.

The actor's process is the node: its agents listen on their own ports, it serves ``/metrics``, runs SWIM and
holds sessions exactly as a lab child does, so the three topologies keep their meaning on Ray. Killing the node
is SIGKILL of the actor's worker process (from outside), as on the lab.

The node code announces its ports on stdout (the lab's child protocol, ``fleet.agents.proc``); here a tap on
``sys.stdout`` catches that line and hands it to :meth:`NodeHostActor.info`. When Ray restarts the actor
(``healing.restarts: engine``) it runs ``__init__`` again with the first config; the node then asks the lab's
directory for the live peers to join through, as a replacement does.

This module is imported in Ray's worker processes: it imports only the node code and Ray's runtime context.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import threading
import urllib.request
from typing import Any, TextIO

import ray

from fleet.agents.__main__ import ENTRIES
from fleet.agents.config import ChildConfig, Seed
from fleet.agents.proc import READY_PREFIX, set_pdeathsig

__all__ = ["NodeHostActor", "READY_TIMEOUT_S"]

log = logging.getLogger("aftershock.engines.ray.actor")

READY_TIMEOUT_S = 120.0
STOP_GRACE_S = 3.0


class _ReadyTap:
    """``sys.stdout`` that hands the ready line to a callback and passes everything else through."""

    def __init__(self, inner: TextIO, on_ready: Any):
        self._inner = inner
        self._on_ready = on_ready

    def write(self, text: str) -> int:
        if text.startswith(READY_PREFIX):
            self._on_ready(json.loads(text[len(READY_PREFIX):]))
            return len(text)
        return self._inner.write(text)

    def flush(self) -> None:
        self._inner.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _live_seeds(config: ChildConfig) -> list[Seed]:
    """Serving agent nodes other than this one, from the lab's directory (a restarted actor's join list)."""
    req = urllib.request.Request(f"{config.control_url}/directory", headers=config.bearer)
    with urllib.request.urlopen(req, timeout=5) as resp:  # noqa: S310 - the lab's own control API on loopback
        directory = json.load(resp)
    return [Seed(name=n["name"], region=n["region"], url=n["node_url"]) for n in directory.get("nodes", [])
            if n.get("role") == "agent" and n["name"] != config.name and n.get("node_url")]


class NodeHostActor:
    """One lab node (role ``node`` or ``hub``) hosted by a Ray actor; ``info`` says where it serves."""

    def __init__(self, config_json: str):
        set_pdeathsig()  # the node dies with its raylet, as a lab child dies with its supervisor
        config = ChildConfig.from_json(config_json)
        self._reconstructed = bool(ray.get_runtime_context().was_current_actor_reconstructed)
        if self._reconstructed and config.kind == "decentralized":
            config = config.model_copy(update={"seeds": _live_seeds(config)})
        self._config = config
        self._info: dict[str, Any] = {}
        self._error: str | None = None
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        sys.stdout = _ReadyTap(sys.stdout, self._on_ready)  # type: ignore[assignment]
        self._thread = threading.Thread(target=self._run, name=f"node-{config.name}", daemon=True)
        self._thread.start()
        if not self._ready.wait(READY_TIMEOUT_S):
            raise RuntimeError(f"{config.name} did not serve within {READY_TIMEOUT_S:.0f}s")
        if self._error:
            raise RuntimeError(f"{config.name} failed to start: {self._error}")

    def _on_ready(self, info: dict[str, Any]) -> None:
        self._info = info
        self._ready.set()

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.current_task()
            await ENTRIES[self._config.role](self._config)

        try:
            asyncio.run(main())
        except asyncio.CancelledError:
            pass
        except BaseException as exc:  # noqa: BLE001 - reported to the supervisor through info/ready
            self._error = f"{type(exc).__name__}: {exc}"
            log.exception("node %s stopped", self._config.name)
            self._ready.set()

    def info(self) -> dict[str, Any]:
        """The ports the node bound, its pid, the Ray node it runs on, and whether Ray restarted it."""
        ctx = ray.get_runtime_context()
        return {**self._info, "pid": os.getpid(), "ray_node": ctx.get_node_id(),
                "reconstructed": self._reconstructed, "error": self._error}

    def stop(self) -> bool:
        """Let the node code finish (flush its execution log, close its event log) before the actor is killed."""
        if self._loop is not None and self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(STOP_GRACE_S)
        return not self._thread.is_alive()
