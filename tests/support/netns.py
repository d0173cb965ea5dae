"""Running a test inside a network namespace that has only loopback (the Ray engine's tests).

Why ``setns`` on the test's own thread instead of running pytest under ``unshare -n``: the rest of the session
keeps its namespace (servers other fixtures started stay reachable), and only what this thread opens or starts
while inside (sockets, the lab's processes, Ray's) lives in the namespace. A holder process made by
``unshare -n`` owns the namespace; ``ip link set lo up`` gives it its loopback. Needs root (CI is root); where it
cannot be made, the caller runs in the machine's namespace and says so.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["loopback_netns", "only_loopback_interfaces"]

CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), "setns(CLONE_NEWNET) failed")


@contextmanager
def loopback_netns() -> Iterator[bool]:
    """Inside a fresh loopback-only network namespace for the calling thread: True; False where that cannot be."""
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        yield False
        return
    holder = subprocess.Popen(["unshare", "-n", "sh", "-c", "ip link set lo up && echo up && exec sleep 100000"],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert holder.stdout is not None
        if holder.stdout.readline().strip() != "up":
            yield False
            return
        own = os.open(f"/proc/self/task/{threading.get_native_id()}/ns/net", os.O_RDONLY)
        target = os.open(f"/proc/{holder.pid}/ns/net", os.O_RDONLY)
        try:
            _setns(target)
            try:
                yield True
            finally:
                _setns(own)
        finally:
            os.close(target)
            os.close(own)
    finally:
        holder.kill()
        holder.wait()


def only_loopback_interfaces() -> bool:
    """The calling thread's namespace has no interface but ``lo`` (read from ``ip``, which runs in it)."""
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout
    names = {line.split(":")[1].strip().split("@")[0] for line in out.splitlines() if line.strip()}
    return names == {"lo"}
