"""Ctrl-C is never lost inside a finalizer: the handler re-sends the signal instead of raising where Python would
swallow the exception ("Exception ignored in: <finalize object ...>"), and raises everywhere else."""

from __future__ import annotations

import os
import signal
import sys
import time
import weakref

import pytest

from core import interrupts
from core.interrupts import in_finalizer, interrupt_handler
from core.wait import wait_until


class _Pool:
    """Stands for a urllib3 connection pool: dropping it runs its weakref finalizer."""


def test_a_signal_inside_a_finalizer_is_sent_again_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[int, int]] = []
    monkeypatch.setattr(interrupts.os, "kill", lambda pid, sig: sent.append((pid, sig)))
    handler = interrupt_handler()
    seen: dict[str, bool] = {}

    def close() -> None:  # the finalizer; the signal "arrives" in its frame
        seen["inside"] = in_finalizer(sys._getframe())
        try:
            handler(signal.SIGINT, sys._getframe())
            seen["raised"] = False
        except KeyboardInterrupt:
            seen["raised"] = True

    pool = _Pool()
    weakref.finalize(pool, close)
    del pool
    assert seen == {"inside": True, "raised": False}
    wait_until(lambda: sent, 2.0, what="the signal sent again")
    assert sent == [(os.getpid(), signal.SIGINT)]


def test_outside_a_finalizer_it_raises_like_python(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interrupts.os, "kill", lambda pid, sig: pytest.fail("nothing is sent again"))
    assert not in_finalizer(sys._getframe())
    with pytest.raises(KeyboardInterrupt):
        interrupt_handler()(signal.SIGINT, sys._getframe())

    class Stop(Exception):
        pass

    def raise_stop() -> None:
        raise Stop

    with pytest.raises(Stop):
        interrupt_handler(raise_stop)(signal.SIGTERM, sys._getframe())


def test_a_del_method_counts_as_a_finalizer() -> None:
    seen = {}

    class Closer:
        def __del__(self) -> None:
            seen["inside"] = in_finalizer(sys._getframe())

    Closer()
    assert seen == {"inside": True}


def test_the_handlers_are_installed_for_the_block_and_restored() -> None:
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with interrupts.interrupts_outside_finalizers(signal.SIGINT, signal.SIGTERM):
        assert signal.getsignal(signal.SIGINT) is signal.getsignal(signal.SIGTERM) is not before[0]
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def send_myself_sigint() -> str:
    """An action that is still running when its Ctrl-C lands (the HTTP call of a kill, say)."""
    os.kill(os.getpid(), signal.SIGINT)
    for _ in range(100):  # the signal is handled at the next bytecode; never get past here
        time.sleep(0.01)
    return "finished"


def test_a_ctrl_c_inside_an_action_cuts_the_pause_after_it_short() -> None:
    """chaoslib sleeps ``pauses.after`` in the ``finally`` of the action's call: without the follow-up the
    Ctrl-C waits out the whole pause before it leaves."""
    from chaoslib.activity import execute_activity

    activity = {"type": "action", "name": "interrupted action", "pauses": {"after": 120},
                "provider": {"type": "python", "module": __name__, "func": "send_myself_sigint"}}
    started = time.monotonic()
    with interrupts.interrupts_outside_finalizers(), pytest.raises(KeyboardInterrupt):
        execute_activity({"title": "t", "description": "d", "method": [activity]}, activity, {}, {}, dry=None)
    assert time.monotonic() - started < 60, "the pause after the interrupted action was waited out"


def _frame_of(name: str, file: str, handler: object) -> object:
    """A function named and filed like chaoslib's that delivers SIGINT to ``handler`` from its own frame: the
    handler reads only the code's name and file name."""
    source = f"def {name}():\n    handler(signal.SIGINT, sys._getframe())\n"
    scope = {"handler": handler, "signal": signal, "sys": sys}
    exec(compile(source, os.path.join("site-packages", "chaoslib", file), "exec"), scope)
    return scope[name]


def test_a_follow_up_that_finds_the_rollbacks_is_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[int] = []
    monkeypatch.setattr(interrupts.os, "kill", lambda pid, sig: sent.append(sig))
    handler = interrupt_handler()
    with pytest.raises(KeyboardInterrupt):
        _frame_of("run_activity", "activity.py", handler)()
    wait_until(lambda: sent, 2.0, what="the follow-up sent")
    _frame_of("apply_rollbacks", "run.py", handler)()  # lands in the rollbacks: dropped, they must run
    with pytest.raises(KeyboardInterrupt):  # and a later Ctrl-C raises as always
        handler(signal.SIGINT, sys._getframe())
