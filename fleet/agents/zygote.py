"""The fork server of a lab: ``python -m fleet.agents.zygote FD``, started once by the supervisor.

A lab child spends most of its start importing (aiohttp, pydantic, prometheus_client: about 0.3 s of CPU each),
so a lab of 100 nodes spent 30 s of 2 cores on imports alone. The zygote imports everything a child needs once,
then forks one child per request, as Android's zygote and ``multiprocessing``'s forkserver do: a child starts in
milliseconds and shares the interpreter's pages with its siblings until it writes them (``gc.freeze`` keeps the
collector from touching them all). The child is the same program as ``python -m fleet.agents ROLE NAME``
(``fleet.agents.__main__.main``), with the same config; every child is still its own OS process, killed and
paused by its pid.

Protocol, on the Unix socket ``FD`` (a socketpair the supervisor keeps the other end of):
- request: one JSON line ``{"id": N, "role": R, "name": NAME, "config": CONFIG_JSON}`` sent with two file
  descriptors (``SCM_RIGHTS``): the child's stdout (the supervisor reads its ready line there) and stderr;
- answers on the zygote's stdout, one line each: ``spawned N PID``, ``exited PID CODE`` (the zygote reaps its
  children and says how each ended, as ``waitpid`` would tell their parent), and ``ready`` once at start.

The zygote dies with the supervisor (``PR_SET_PDEATHSIG``) and its children die with it, so the chain "no
process outlives its parent" holds. It never starts an event loop or a thread: forking is safe.
"""

from __future__ import annotations

import array
import gc
import io
import json
import os
import selectors
import signal
import socket
import sys
import traceback
from typing import Any

from fleet.agents import __main__ as child_main
from fleet.agents.proc import set_pdeathsig, set_process_name

__all__ = ["serve", "MAX_REQUEST"]

MAX_REQUEST = 1 << 20  # a config is a few KiB


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _run_child(request: dict[str, Any], out_fd: int, err_fd: int, closing: list[int]) -> None:
    """In the forked child: become ``python -m fleet.agents ROLE NAME`` and never return to the zygote's loop."""
    code = 0
    try:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        for fd in closing:
            os.close(fd)
        os.dup2(out_fd, 1)
        os.dup2(err_fd, 2)
        os.close(out_fd)
        os.close(err_fd)
        gc.unfreeze()
        set_pdeathsig()  # the zygote is the parent now; it dies with the supervisor
        set_process_name(f"{request['role']} {request['name']}")  # what top and ps -o comm show
        config = json.loads(request["config"])
        config["parent_pid"] = os.getppid()
        child_main.main([request["role"], request["name"]], stdin=io.BytesIO(json.dumps(config).encode()))
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # noqa: BLE001 - the child's own crash, printed to its stderr like any process's
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _receive(sock: socket.socket, buffer: bytearray, fds: list[int]) -> list[dict[str, Any]]:
    """Read what arrived: whole request lines, and the descriptors that came with them (in order)."""
    data, ancdata, _flags, _addr = sock.recvmsg(65536, socket.CMSG_SPACE(16 * array.array("i").itemsize))
    if not data:
        raise EOFError
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            got = array.array("i")
            got.frombytes(payload[: len(payload) - len(payload) % got.itemsize])
            fds.extend(got)
    buffer.extend(data)
    if len(buffer) > MAX_REQUEST:
        raise ValueError("request too large")
    lines = []
    while b"\n" in buffer:
        line, _, rest = bytes(buffer).partition(b"\n")
        buffer[:] = rest
        lines.append(json.loads(line))
    return lines


def _reap() -> None:
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        _say(f"exited {pid} {os.waitstatus_to_exitcode(status)}")


def serve(fd: int) -> None:
    """Fork children on request until the supervisor closes its end of the socket."""
    set_pdeathsig()
    sock = socket.socket(fileno=fd)
    sock.setblocking(False)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd is written
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    selector = selectors.DefaultSelector()
    selector.register(sock, selectors.EVENT_READ)
    selector.register(wake_r, selectors.EVENT_READ)
    gc.collect()
    gc.freeze()  # what the zygote holds now is shared with every child: the collector leaves it untouched
    buffer, fds = bytearray(), []
    _say("ready")
    try:
        while True:
            for key, _ in selector.select():
                if key.fileobj == wake_r:
                    os.read(wake_r, 4096)
                    _reap()
                    continue
                try:
                    requests = _receive(sock, buffer, fds)
                except BlockingIOError:
                    continue
                for request in requests:
                    out_fd, err_fd = fds.pop(0), fds.pop(0)
                    pid = os.fork()
                    if pid == 0:
                        selector.close()
                        sock.close()
                        _run_child(request, out_fd, err_fd, [wake_r, wake_w, *fds])
                    os.close(out_fd)
                    os.close(err_fd)
                    _say(f"spawned {request['id']} {pid}")
    except EOFError:  # the supervisor is done with us: children are its to stop, we only stop forking
        pass
    finally:
        _reap()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
