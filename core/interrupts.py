"""Ctrl-C that is never lost: a SIGINT (or a SIGTERM turned into one) that lands inside a finalizer is re-sent.

Python raises ``KeyboardInterrupt`` in whatever frame the main thread is running when the signal arrives. When
that frame is a finalizer (``weakref.finalize``: urllib3 registers one per connection pool, so dropping a
``requests`` session runs one; or a ``__del__``), the exception cannot leave it: Python prints "Exception
ignored in: <finalize object ...>" and the experiment goes on as if nobody had pressed Ctrl-C. That happened to
a real Ctrl-C sent right after a kill (the action's HTTP session was being dropped at that moment). The handler
here raises as Python's would, except inside a finalizer, where it re-sends the same signal a moment later, once
the finalizer has returned. Written by hand: neither the standard library nor chaoslib offers this.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["in_finalizer", "interrupt_handler", "interrupts_outside_finalizers", "RESEND_S"]

log = logging.getLogger("aftershock.interrupts")

#: How long after a deferred signal it is sent again (a finalizer closing sockets takes microseconds).
RESEND_S = 0.05
_WEAKREF_FILE = os.sep + "weakref.py"


def in_finalizer(frame: FrameType | None) -> bool:
    """Whether ``frame`` or a frame below it runs a finalizer (``weakref.finalize`` or a ``__del__``)."""
    while frame is not None:
        code = frame.f_code
        if code.co_name == "__del__" or (code.co_name == "__call__" and code.co_filename.endswith(_WEAKREF_FILE)):
            return True
        frame = frame.f_back
    return False


def interrupt_handler(raise_: Callable[[], None] | None = None) -> Callable[[int, FrameType | None], None]:
    """A signal handler that raises ``KeyboardInterrupt`` (or calls ``raise_``), deferring inside finalizers."""

    def handler(signum: int, frame: FrameType | None) -> None:
        if in_finalizer(frame):
            log.debug("signal %d arrived inside a finalizer: sent again in %.2f s", signum, RESEND_S)
            timer = threading.Timer(RESEND_S, os.kill, (os.getpid(), signum))
            timer.daemon = True
            timer.start()
            return
        if raise_ is not None:
            raise_()
        raise KeyboardInterrupt

    return handler


@contextmanager
def interrupts_outside_finalizers(*signums: int,
                                  raise_: Callable[[], None] | None = None) -> Iterator[None]:
    """Install :func:`interrupt_handler` for ``signums`` (default SIGINT) while the block runs, in the main thread
    only (signal handlers can be set nowhere else); the previous handlers come back after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    handler = interrupt_handler(raise_)
    previous = {s: signal.signal(s, handler) for s in (signums or (signal.SIGINT,))}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)
