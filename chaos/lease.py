"""The controller's half of the dead-man switch: a lease on every lab it breaks, renewed from a thread.

Why: when the process running an experiment dies (kill -9) or hangs, nobody runs its rollbacks. Before its
first injection into a lab, the controller (the runner, or a plain ``chaos run``: whoever calls
``chaos.actions``) opens a lease with the lab's supervisor and renews it every ``period_s``; its fault calls
carry the lease, so the supervisor knows whose faults they are and reverts them when the renewals stop
(fleet/supervisor/deadman.py). The same thread watches the emergency stop file and interrupts the experiment
(chaoslib's graceful exit: rollbacks run) the moment it appears.

Every fault also has a maximum duration: ``aftershock_max_fault_s`` from the experiment's configuration,
capped by ``Settings.max_fault_s`` (and again by the lab's own cap).

Engines without a lease (``open_lease`` absent) are left to their own safety (documented per engine).
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chaoslib.exit import exit_gracefully

from chaos.labref import LabRef, config_value
from core.audit import actor
from core.errors import AftershockError, ExperimentError
from core.stop import stop_state
from fleet.engine import LabEngine

__all__ = ["attach", "release_all", "held", "max_fault_s", "interrupt_experiment", "TTL_S"]

log = logging.getLogger("aftershock.chaos.lease")

#: How long the lab waits for a renewal before it reverts our faults (renewals come every 0.5 s): long enough for
#: a loaded machine, short enough that a hung controller's faults go within 5 s (TTL_S + the lab's 0.25 s tick).
TTL_S = 3.5
_DROP_AFTER_FAILURES = 5


@dataclass
class _Held:
    id: str
    lab: str
    home: str
    engine: LabEngine  # our own client: the keeper thread never shares a session with the actions
    period_s: float
    run: str | None = None
    failures: int = 0


_lock = threading.Lock()
_held: dict[tuple[str, str], _Held] = {}
_keeper: threading.Thread | None = None
_wake = threading.Event()
_interrupted: set[str] = set()


def max_fault_s(configuration: Mapping[str, Any] | None, cap_s: float) -> float:
    """``aftershock_max_fault_s`` of the experiment (seconds), never above the cap; the cap when unset."""
    raw = config_value(configuration, "aftershock_max_fault_s")
    if raw is None:
        return cap_s
    try:
        value = float(raw)
    except (TypeError, ValueError):
        value = float("nan")
    if not 1.0 <= value <= 86_400.0:
        raise ExperimentError(f"configuration aftershock_max_fault_s={raw!r} must be a number of seconds in 1..86400")
    return min(value, cap_s)


def interrupt_experiment(reason: str, run: str | None = None) -> bool:
    """End the running experiment gracefully (rollbacks run), once per ``run``; False outside a chaoslib run.

    chaoslib turns SIGUSR1 into a graceful exit only while it runs an experiment; elsewhere SIGUSR1 would
    kill the process, so it is sent only when chaoslib's handler is the one installed.
    """
    handler = signal.getsignal(signal.SIGUSR1)
    if getattr(handler, "__module__", "") != "chaoslib.exit":
        return False
    key = run or f"pid {os.getpid()}"
    with _lock:
        if key in _interrupted:
            return True
        _interrupted.add(key)
    log.warning("interrupting the experiment: %s (rollbacks will run)", reason)
    exit_gracefully()
    return True


def attach(lab: LabRef, configuration: Mapping[str, Any] | None, run: str | None = None) -> str | None:
    """Make sure we hold a lease on ``lab`` and tag ``lab.client``'s fault calls with it; returns its id."""
    engine = lab.client
    if not isinstance(engine, LabEngine):
        return None
    key = (str(lab.settings.home), lab.name)
    limit = max_fault_s(configuration, lab.settings.max_fault_s)
    with _lock:
        held_lease = _held.get(key)
        if held_lease is None:
            own = LabEngine(lab.settings, lab.name, status=lab.status, timeout_s=TTL_S / 2)
            try:
                opened = own.open_lease(holder=actor(), pid=os.getpid(), run=run, ttl_s=TTL_S,
                                        max_fault_s=limit)
            except AftershockError as exc:  # an older lab without leases: faults still expire at its cap
                log.warning("lab %s: no lease (%s); the dead-man cannot cover this controller", lab.name, exc)
                return None
            period = float(opened.get("period_s", 0.5))
            held_lease = _Held(str(opened["lease"]), lab.name, key[0], own, period, run)
            _held[key] = held_lease
            log.info("lease %s on lab %s (faults at most %.0f s)", held_lease.id, lab.name, limit)
        _ensure_keeper()
    engine.use_lease(held_lease.id)
    return held_lease.id


def held() -> list[dict[str, str]]:
    with _lock:
        return [{"lease": h.id, "lab": h.lab, "home": h.home} for h in _held.values()]


def release_all() -> None:
    """Give every lease back (the experiment ended and its rollbacks ran); faults left keep their deadline."""
    with _lock:
        leases = list(_held.values())
        _held.clear()
        _interrupted.clear()
    _wake.set()  # the keeper sees no lease and ends: no thread outlives the experiment
    for lease in leases:
        try:
            lease.engine.release_lease(lease.id)
        except AftershockError as exc:  # the lab went down first: nothing to release
            log.debug("lease %s on lab %s not released: %s", lease.id, lease.lab, exc)


def _ensure_keeper() -> None:
    global _keeper
    if _keeper is None or not _keeper.is_alive():
        _keeper = threading.Thread(target=_keep, name="aftershock-lease", daemon=True)
        _keeper.start()


def _keep() -> None:
    """Renew every lease each period; watch the stop file; drop leases of labs that went away.

    Ends once no lease is held (release_all, or every lab gone); the next lease starts a new keeper.
    """
    global _keeper
    while True:
        with _lock:
            leases = list(_held.values())
            if not leases:
                _keeper = None
                _wake.clear()
                return
        period = min((h.period_s for h in leases), default=0.5)
        for lease in leases:
            state = stop_state(lease.home)
            if state is not None:
                interrupt_experiment(state.describe(), lease.run)
            try:
                lease.engine.renew_lease(lease.id)
                lease.failures = 0
            except AftershockError as exc:
                lease.failures += 1
                gone = "no such lease" in str(exc) or lease.failures >= _DROP_AFTER_FAILURES
                if gone:
                    log.warning("lease %s on lab %s dropped: %s", lease.id, lease.lab, exc)
                    with _lock:
                        if _held.get((lease.home, lease.lab)) is lease:
                            del _held[(lease.home, lease.lab)]
        _wake.wait(period)
        _wake.clear()
