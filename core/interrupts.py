"""Ctrl-C that is never lost: a SIGINT (or a SIGTERM turned into one) that lands inside a finalizer is re-sent.

Python raises ``KeyboardInterrupt`` in whatever frame the main thread is running when the signal arrives. When
that frame is a finalizer (``weakref.finalize``: urllib3 registers one per connection pool, so dropping a
``requests`` session runs one; or a ``__del__``), the exception cannot leave it: Python prints "Exception
ignored in: <finalize object ...>" and the experiment goes on as if nobody had pressed Ctrl-C. That happened to
a real Ctrl-C sent right after a kill (the action's HTTP session was being dropped at that moment). The handler
here raises as Python's would, except inside a finalizer, where it re-sends the same signal a moment later, once
the finalizer has returned.

A second way to lose a Ctrl-C: chaoslib's ``execute_activity`` sleeps an activity's ``pauses.after`` in the
``finally`` of the activity's call, so a Ctrl-C that lands while the action runs (its HTTP call to the
supervisor, say) is held for the whole pause (two minutes in one test on a loaded machine) before it leaves.
When the signal lands inside an activity of the method, the handler raises and also sends a follow-up; the
follow-up raises again only once the main thread sleeps in that pause, and is dropped once it has left the
activity (or reached the rollbacks, which must run). Written by hand: neither the standard library nor chaoslib
offers this.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["in_activity", "in_finalizer", "in_pause", "interrupt_handler", "interrupts_outside_finalizers",
           "RESEND_S", "FOLLOW_UP_S"]

log = logging.getLogger("aftershock.interrupts")

#: How long after a deferred signal it is sent again (a finalizer closing sockets takes microseconds).
RESEND_S = 0.05
#: How often a follow-up looks again for chaoslib's pause after an interrupted activity.
FOLLOW_UP_S = 0.1
#: How many looks before a follow-up gives up (the activity's ``finally`` runs the controls first).
FOLLOW_UP_TRIES = 300
_WEAKREF_FILE = os.sep + "weakref.py"
_ACTIVITY_FILE = os.path.join("chaoslib", "activity.py")
_RUN_FILE = os.path.join("chaoslib", "run.py")


def _chain(frame: FrameType | None) -> Iterator[FrameType]:
    while frame is not None:
        yield frame
        frame = frame.f_back


def _is(frame: FrameType, file: str, *names: str) -> bool:
    return frame.f_code.co_name in names and frame.f_code.co_filename.endswith(file)


def _in_rollbacks(frame: FrameType | None) -> bool:
    return any(_is(f, _RUN_FILE, "run_rollback", "apply_rollbacks") for f in _chain(frame))


def in_activity(frame: FrameType | None) -> bool:
    """Whether ``frame`` is inside a chaoslib activity call of the method (not of the rollbacks)."""
    return any(_is(f, _ACTIVITY_FILE, "run_activity") for f in _chain(frame)) and not _in_rollbacks(frame)


def in_pause(frame: FrameType | None) -> bool:
    """Whether the main thread sleeps in chaoslib's own code of ``execute_activity`` (its pauses), outside the
    rollbacks."""
    return frame is not None and _is(frame, _ACTIVITY_FILE, "execute_activity") and not _in_rollbacks(frame)


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

    follow_up = {"tries": 0}  # > 0 while a follow-up signal is on its way

    def send_later(delay_s: float, signum: int) -> None:
        timer = threading.Timer(delay_s, os.kill, (os.getpid(), signum))
        timer.daemon = True
        timer.start()

    def handler(signum: int, frame: FrameType | None) -> None:
        if in_finalizer(frame):
            log.debug("signal %d arrived inside a finalizer: sent again in %.2f s", signum, RESEND_S)
            send_later(RESEND_S, signum)
            return
        if follow_up["tries"]:  # ours: raise in the pause, look again before it, drop once out of the activity
            follow_up["tries"] -= 1
            if in_pause(frame):
                follow_up["tries"] = 0
            elif follow_up["tries"] and any(_is(f, _ACTIVITY_FILE, "execute_activity") for f in _chain(frame)) \
                    and not _in_rollbacks(frame):
                send_later(FOLLOW_UP_S, signum)
                return
            else:
                follow_up["tries"] = 0
                return
        elif in_activity(frame):
            log.debug("signal %d arrived inside an activity: a follow-up cuts its pause short", signum)
            follow_up["tries"] = FOLLOW_UP_TRIES
            send_later(FOLLOW_UP_S, signum)
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
