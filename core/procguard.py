"""No process outlives its parent: the guard for children of the command line (the dashboard's Streamlit server,
the demo's runner); the lab's processes use the same two guards (fleet/agents/proc.py).

Two guards, because one can fail: ``PR_SET_PDEATHSIG`` makes the kernel signal a child the moment its parent dies
(even by SIGKILL), and a thread polls ``getppid()`` as a fallback. A parent that died between the fork and the
``prctl`` is caught by checking the parent right after it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
from collections.abc import Mapping

__all__ = ["set_pdeathsig", "die_with_parent", "parent_guard_env", "guard_from_env", "ENV_PARENT_PID",
           "ENV_PARENT_SIGNAL"]

ENV_PARENT_PID = "AFTERSHOCK_PARENT_PID"
ENV_PARENT_SIGNAL = "AFTERSHOCK_PARENT_SIGNAL"
_PR_SET_PDEATHSIG = 1
WATCH_PERIOD_S = 0.5


def set_pdeathsig(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux only; no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)


def die_with_parent(parent_pid: int, sig: int = signal.SIGKILL, period_s: float = WATCH_PERIOD_S) -> threading.Thread:
    """Get ``sig`` when ``parent_pid`` (our parent) dies: the kernel's death signal, and a watching thread.

    ``sig`` SIGTERM lets a runner roll back before it goes; SIGKILL is for servers with nothing to undo.
    """
    set_pdeathsig(sig)

    def watch() -> None:
        stop = threading.Event()
        while os.getppid() == parent_pid:
            stop.wait(period_s)
        os.kill(os.getpid(), sig)

    if os.getppid() != parent_pid:  # the parent died before the prctl: nobody will signal us
        os.kill(os.getpid(), sig)
    thread = threading.Thread(target=watch, name="aftershock-parent-watch", daemon=True)
    thread.start()
    return thread


def parent_guard_env(sig: int = signal.SIGTERM, pid: int | None = None) -> dict[str, str]:
    """Environment that makes a child ``aftershock`` command die with this process (see :func:`guard_from_env`)."""
    return {ENV_PARENT_PID: str(os.getpid() if pid is None else pid), ENV_PARENT_SIGNAL: str(int(sig))}


def guard_from_env(environ: Mapping[str, str]) -> threading.Thread | None:
    """At a command line's start: honour :data:`ENV_PARENT_PID` (set by the parent that started us)."""
    raw = (environ.get(ENV_PARENT_PID) or "").strip()
    if not raw.isdigit():
        return None
    sig_raw = (environ.get(ENV_PARENT_SIGNAL) or "").strip()
    sig = int(sig_raw) if sig_raw.isdigit() and int(sig_raw) in (signal.SIGTERM, signal.SIGKILL) else signal.SIGTERM
    return die_with_parent(int(raw), sig)
