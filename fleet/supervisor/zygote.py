"""The supervisor's side of the fork server (``fleet.agents.zygote``): start it once, ask it for children.

:class:`ForkedProcess` is what the launcher keeps for a child the zygote forked: the same ``pid``, ``returncode``,
``stdout``, ``wait()``, ``kill()`` and ``terminate()`` as an ``asyncio.subprocess.Process``, so records, faults
(``SIGSTOP`` by pid) and the watcher of unexpected exits do not know the difference. The exit code comes from
the zygote, which reaps its children and reports each one.
"""

from __future__ import annotations

import array
import asyncio
import itertools
import json
import logging
import os
import signal
import socket
import sys
from typing import IO

__all__ = ["Zygote", "ForkedProcess", "ZYGOTE_MODULE", "ZygoteError"]

log = logging.getLogger("aftershock.fleet.supervisor.zygote")

ZYGOTE_MODULE = "fleet.agents.zygote"
START_TIMEOUT_S = 60.0
SPAWN_TIMEOUT_S = 30.0


class ZygoteError(RuntimeError):
    """The fork server is gone or did not answer: no child can be started through it."""


class ForkedProcess:
    """A child forked by the zygote, with the part of ``asyncio.subprocess.Process`` the launcher uses."""

    def __init__(self, pid: int, stdout: asyncio.StreamReader):
        self.pid = pid
        self.stdout = stdout
        self.returncode: int | None = None
        self._exited = asyncio.Event()

    def _ended(self, code: int) -> None:
        self.returncode = code
        self._exited.set()

    async def wait(self) -> int:
        await self._exited.wait()
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:  # a reaped pid may belong to another process by now
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class Zygote:
    """One fork server per lab; :meth:`spawn` returns a :class:`ForkedProcess` once the child exists."""

    def __init__(self, stderr: IO[bytes]):
        self._stderr = stderr
        self._proc: asyncio.subprocess.Process | None = None
        self._sock: socket.socket | None = None
        self._ids = itertools.count(1)
        self._spawning: dict[int, asyncio.Future[int]] = {}
        self._children: dict[int, ForkedProcess] = {}
        self._early_exits: dict[int, int] = {}  # exits reported before the spawn answer was handled
        self._reader: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None and self._proc.returncode is None else None

    async def start(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", ZYGOTE_MODULE, str(theirs.fileno()), pass_fds=(theirs.fileno(),),
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=self._stderr,
            )
        finally:
            theirs.close()
        self._sock = ours
        assert self._proc.stdout is not None
        line = await asyncio.wait_for(self._proc.stdout.readline(), START_TIMEOUT_S)
        if line.strip() != b"ready":
            raise ZygoteError(f"the fork server did not start (it said {line[:200]!r}; see processes.log)")
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        while line := await self._proc.stdout.readline():
            words = line.decode().split()
            if words[:1] == ["spawned"] and len(words) == 3:
                future = self._spawning.pop(int(words[1]), None)
                if future is not None and not future.done():
                    future.set_result(int(words[2]))
            elif words[:1] == ["exited"] and len(words) == 3:
                pid, code = int(words[1]), int(words[2])
                child = self._children.pop(pid, None)
                if child is None:
                    self._early_exits[pid] = code
                else:
                    child._ended(code)
        log.warning("the fork server is gone")
        for future in self._spawning.values():
            if not future.done():
                future.set_exception(ZygoteError("the fork server is gone"))
        for child in self._children.values():  # its children died with it (PR_SET_PDEATHSIG)
            child._ended(-signal.SIGKILL)
        self._children.clear()

    async def spawn(self, role: str, name: str, config_json: str, stderr_fd: int) -> ForkedProcess:
        """Fork ``python -m fleet.agents ROLE NAME`` with its config; its stdout is a new pipe, its stderr
        ``stderr_fd``."""
        if self._reader is None:
            raise ZygoteError("the fork server is not running: Zygote.start() first")
        if self._reader.done():  # it was killed (its children with it): a new one, so the lab can be healed
            log.warning("starting a new fork server")
            async with self._lock:
                if self._reader.done():
                    await self._stop_process()
                    await self.start()
        loop = asyncio.get_running_loop()
        read_fd, write_fd = os.pipe()
        call_id = next(self._ids)
        future: asyncio.Future[int] = loop.create_future()
        self._spawning[call_id] = future
        request = json.dumps({"id": call_id, "role": role, "name": name, "config": config_json}).encode() + b"\n"
        try:
            async with self._lock:  # one request (and its descriptors) at a time on the socket
                await loop.run_in_executor(None, self._send, request, [write_fd, stderr_fd])
        finally:
            os.close(write_fd)
        try:
            pid = await asyncio.wait_for(future, SPAWN_TIMEOUT_S)
        except BaseException:
            os.close(read_fd)
            self._spawning.pop(call_id, None)
            raise
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(read_fd, "rb", 0))
        child = ForkedProcess(pid, reader)
        if pid in self._early_exits:
            child._ended(self._early_exits.pop(pid))
        else:
            self._children[pid] = child
        return child

    def _send(self, request: bytes, fds: list[int]) -> None:
        assert self._sock is not None
        self._sock.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])

    async def _stop_process(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._proc is not None and self._proc.returncode is None:
            try:
                await asyncio.wait_for(self._proc.wait(), 5)
            except TimeoutError:
                self._proc.kill()
                await self._proc.wait()

    async def close(self) -> None:
        """Stop forking: the zygote exits when its socket closes (children still running die with it)."""
        await self._stop_process()
        if self._reader is not None:
            self._reader.cancel()
