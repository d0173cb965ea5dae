"""``python -m engines.ray.keeper [--remove DIR] CMD ...``: the keeper of one ``ray start --block``.

Nothing below a keeper survives it; the head's keeper also removes the cluster's temporary directory (``--remove``).

Why a keeper: Ray's node processes do not all share their parent's fate (the dashboard and runtime-env agents
outlive a killed raylet for minutes), and once orphaned they belong to init, where nobody would find them. The
keeper makes itself a *child subreaper* (``PR_SET_CHILD_SUBREAPER``), so every orphan of its ``ray start``
(raylet, GCS, agents, workers) becomes its child, and it kills them all:

- when its parent (the lab's supervisor) is gone, even by ``kill -9`` (it watches ``getppid``);
- on SIGUSR1, at once (a region loss: the node's processes SIGKILLed together);
- on SIGTERM, after asking ``ray start`` to stop (it stops its processes) for a grace period.

It runs in a session of its own, so a ``killpg`` of the supervisor's group cannot kill it before it has cleaned up.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import suppress

import psutil

__all__ = ["main", "GRACE_S"]

PR_SET_CHILD_SUBREAPER = 36
GRACE_S = 5.0
TICK_S = 0.1


def _subreaper() -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _kill_everything_below() -> None:
    """SIGKILL every descendant, again until none is left (orphans keep arriving while their parents die)."""
    me = psutil.Process()
    for _ in range(200):
        below = me.children(recursive=True)
        if not below:
            return
        for proc in below:
            with suppress(psutil.NoSuchProcess):
                proc.kill()
        time.sleep(TICK_S / 2)
        _reap()


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    remove: str | None = None
    if args[:1] == ["--remove"] and len(args) > 2:  # the head's keeper: the cluster's temp dir goes with it
        remove, args = args[1], args[2:]
    if not args:
        raise SystemExit("usage: python -m engines.ray.keeper [--remove DIR] CMD [ARGS...]")
    parent = os.getppid()
    _subreaper()
    asked: dict[str, bool] = {"term": False, "kill": False}
    signal.signal(signal.SIGTERM, lambda *_: asked.__setitem__("term", True))
    signal.signal(signal.SIGUSR1, lambda *_: asked.__setitem__("kill", True))
    child = subprocess.Popen(args, stdin=subprocess.DEVNULL)
    term_at: float | None = None
    while True:
        time.sleep(TICK_S)
        if asked["kill"] or os.getppid() != parent:
            break
        if asked["term"] and term_at is None:
            term_at = time.monotonic()
            with suppress(ProcessLookupError):
                child.send_signal(signal.SIGTERM)
        if term_at is not None and (child.poll() is not None or time.monotonic() - term_at > GRACE_S):
            break
        if term_at is None and child.poll() is not None:  # `ray start` ended by itself (a failed start)
            break
        _reap()
    _kill_everything_below()
    if remove:
        shutil.rmtree(remove, ignore_errors=True)
    code = child.poll()
    return 0 if code is None else (code if code >= 0 else 128 - code)


if __name__ == "__main__":
    raise SystemExit(main())
