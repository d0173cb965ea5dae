"""Starting, watching and stopping the lab's child processes (``python -m fleet.agents ROLE NAME``).

Children are forked by the lab's fork server (``fleet.agents.zygote``, driven by ``zygote.py``): it has imported
what a child needs once, so a child starts in milliseconds instead of a third of a second of CPU. A child gets
its config (a ``ChildConfig`` as JSON, the lab's token in it) over the zygote's private socketpair: nothing
secret is on a command line or in an environment. A child announces the ports it bound on its stdout (a pipe of
its own, ``fleet.agents.proc``); its stderr goes to ``processes.log``. An exit nobody asked for becomes a
``node_killed`` event with ``unexpected=True``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from core.logs import EventLog
from fleet.agents.config import ChildConfig
from fleet.agents.proc import READY_PREFIX
from fleet.supervisor.records import NodeRecord, Roster
from fleet.supervisor.zygote import ForkedProcess, Zygote

__all__ = ["Launcher", "CHILD_MODULE", "READY_TIMEOUT_S", "STOP_GRACE_S"]

log = logging.getLogger("aftershock.fleet.supervisor")

CHILD_MODULE = "fleet.agents"
READY_TIMEOUT_S = 120.0
STOP_GRACE_S = 3.0
ADMIN_TIMEOUT_S = 5.0

#: Builds a node's child config from its record and the seeds it joins through.
Configure = Callable[[NodeRecord, list[dict[str, str]]], ChildConfig]


class Launcher:
    """The process half of the supervisor: every child it starts is indexed in the roster (ports to regions)."""

    def __init__(
        self,
        roster: Roster,
        events: EventLog,
        configure: Configure,
        *,
        token: str,
        log_path: Path,
        on_change: Callable[[], None] = lambda: None,
        fork: bool = True,
    ):
        self.roster = roster
        self.events = events
        self._configure = configure
        self._token = token
        self._log_path = log_path
        self._on_change = on_change
        self._log_fh = open(log_path, "ab")  # noqa: SIM115 - lives as long as the lab
        self._watchers: set[asyncio.Task] = set()
        self._http: aiohttp.ClientSession | None = None
        self.zygote = Zygote(self._log_fh) if fork else None

    async def start(self) -> None:
        self._http = aiohttp.ClientSession()
        if self.zygote is not None:
            await self.zygote.start()

    async def close(self) -> None:
        for task in list(self._watchers):
            task.cancel()
        if self._http is not None:
            await self._http.close()
        if self.zygote is not None:
            await self.zygote.close()
        self._log_fh.close()

    @property
    def http(self) -> aiohttp.ClientSession:
        assert self._http is not None, "Launcher.start() first"
        return self._http

    # ---- one child ------------------------------------------------------------------------
    async def spawn(self, rec: NodeRecord, config: ChildConfig) -> None:
        """Start ``rec``'s process and wait for its ready line (the ports it bound)."""
        # The config (token included) goes over the zygote's socketpair or down an inherited pipe, never into argv
        # or the environment, where `ps` and /proc/PID/environ would show it to every user of the machine.
        proc = await self._start_process(config)
        rec.proc = proc
        assert proc.stdout is not None
        try:
            while True:
                line = (await asyncio.wait_for(proc.stdout.readline(), READY_TIMEOUT_S)).decode()
                if not line:
                    raise RuntimeError(f"{rec.name} exited before it was ready (see {self._log_path})")
                if line.startswith(READY_PREFIX):
                    break
        except (TimeoutError, RuntimeError, ConnectionError):
            if proc.returncode is None:
                proc.kill()
            raise
        info = json.loads(line[len(READY_PREFIX) :])
        rec.node_url = info.get("node_url", "")
        rec.metrics_url = info["metrics_url"]
        rec.agent_urls = dict(info.get("agents", {}))
        rec.agents_alive = {a: True for a in rec.agents}
        rec.status = "running"
        rec.starts += 1
        self.roster.index_ports(rec)
        watcher = asyncio.create_task(self._watch(rec, proc))
        self._watchers.add(watcher)
        watcher.add_done_callback(self._watchers.discard)

    async def _start_process(self, config: ChildConfig) -> asyncio.subprocess.Process | ForkedProcess:
        if self.zygote is not None:
            return await self.zygote.spawn(config.role, config.name, config.to_json(), self._log_fh.fileno())
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", CHILD_MODULE, config.role, config.name,
            stdout=asyncio.subprocess.PIPE, stderr=self._log_fh, stdin=asyncio.subprocess.PIPE,
        )
        assert proc.stdin is not None
        proc.stdin.write(config.to_json().encode())
        await proc.stdin.drain()
        proc.stdin.close()
        return proc

    async def _watch(self, rec: NodeRecord, proc: asyncio.subprocess.Process | ForkedProcess) -> None:
        await proc.wait()
        if rec.proc is proc and rec.status in ("running", "paused"):
            rec.status = "killed"
            self.events.emit(
                "node_killed", node=rec.name, region=rec.region, unexpected=True, returncode=proc.returncode
            )
            self._on_change()

    async def start_node(self, rec: NodeRecord, seeds: list[dict[str, str]] | None = None) -> None:
        await self.spawn(rec, self._configure(rec, seeds or []))

    async def kill(self, rec: NodeRecord) -> None:
        """SIGKILL and reap (a no-op for a process that is gone)."""
        if rec.process_alive:
            assert rec.proc is not None
            rec.proc.kill()
            await rec.proc.wait()

    async def terminate(self, records: list[NodeRecord]) -> None:
        """SIGTERM (after SIGCONT, so a paused process can act on it), then SIGKILL after the grace period."""
        for rec in records:
            rec.status = "stopped"
            if rec.proc is not None and rec.proc.returncode is None:
                try:
                    os.kill(rec.proc.pid, signal.SIGCONT)
                    rec.proc.terminate()
                except ProcessLookupError:
                    pass
        procs = [r.proc for r in records if r.proc is not None]
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), STOP_GRACE_S)
        except TimeoutError:
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()
            await asyncio.gather(*(p.wait() for p in procs))

    async def admin(self, rec: NodeRecord, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """A call to a node's token-guarded ``/admin`` API (kill or start an agent, join the cohort)."""
        async with self.http.post(
            f"{rec.node_url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {self._token}"},
            timeout=aiohttp.ClientTimeout(total=ADMIN_TIMEOUT_S),
        ) as resp:
            return await resp.json()
