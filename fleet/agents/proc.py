"""Process plumbing for lab processes: no process outlives its parent, and children announce readiness.

Two guards, because one can fail: ``PR_SET_PDEATHSIG`` makes the kernel SIGKILL a child the moment its
parent dies (even by SIGKILL), and :func:`watch_parent` polls ``getppid()`` as a fallback.
"""

from __future__ import annotations

import asyncio
import ctypes
import json
import os
import signal
import sys
from typing import Any

__all__ = ["set_pdeathsig", "set_process_name", "watch_parent", "announce_ready", "READY_PREFIX"]

READY_PREFIX = "AFTERSHOCK-READY "
_PR_SET_PDEATHSIG = 1
_PR_SET_NAME = 15


def set_pdeathsig(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux only; no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)


def set_process_name(name: str) -> None:
    """The name ``top`` and ``ps -o comm`` show (the kernel keeps 15 bytes); forked children share a command line."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(_PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)


async def watch_parent(parent_pid: int, period_s: float = 0.5) -> None:
    """Exit at once when the parent is gone (re-parented), in case the death signal was missed."""
    while True:
        if os.getppid() != parent_pid:
            os._exit(3)
        await asyncio.sleep(period_s)


def announce_ready(info: dict[str, Any]) -> None:
    """Tell the supervisor (reading our stdout) which ports we bound; the only line we print."""
    sys.stdout.write(READY_PREFIX + json.dumps(info) + "\n")
    sys.stdout.flush()
