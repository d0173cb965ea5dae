"""One lock file per schedule (``$AFTERSHOCK_HOME/locks/schedule-NAME.lock``, ``flock``): the guarantee that a
schedule never runs twice at once, across processes. The kernel drops the lock when its holder dies, so a
crashed scheduler never leaves a stale lock. The run's subprocess inherits the descriptor, so the lock is
held for as long as the run lives, even if the scheduler that started it is killed.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

__all__ = ["ScheduleLock", "lock_path"]


def lock_path(home: Path, name: str) -> Path:
    return Path(home) / "locks" / f"schedule-{name}.lock"


class ScheduleLock:
    """Non-blocking exclusive lock; ``acquire()`` returns False when another holder has it."""

    def __init__(self, home: Path, name: str):
        self.path = lock_path(home, name)
        self.fd: int | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        return True

    def release(self) -> None:
        if self.fd is not None:
            fd, self.fd = self.fd, None
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def held_elsewhere(self) -> bool:
        """True when another process holds the lock (used to tell a dead attempt from a live one)."""
        if self.acquire():
            self.release()
            return False
        return True

    def __enter__(self) -> ScheduleLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
