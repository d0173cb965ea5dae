"""Physical limits to show beside measurements: how fast a deployment can possibly notice a death.

A measured recovery that beats detection + restart delay did not come from the restart; either
clients failed over by themselves or the measurement is wrong, so it is flagged ``suspect``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from analysis.errors import AnalysisError

__all__ = [
    "SWIM_FIRST_DETECTION_FACTOR",
    "DetectionBound",
    "swim_suspicion_timeout",
    "swim_detection_bound",
    "hub_detection_bound",
    "ray_detection_bound",
    "ttr_is_suspect",
]

# SWIM (Das et al. 2002): with random probe targets, the expected number of protocol periods until
# some member probes a dead one is 1 / (1 - e^-1) = e / (e - 1) ~ 1.582 for large groups.
SWIM_FIRST_DETECTION_FACTOR = math.e / (math.e - 1.0)


@dataclass(frozen=True)
class DetectionBound:
    """Best, expected and worst time from a death to the deployment declaring it, in seconds."""

    kind: str
    best_s: float
    expected_s: float
    worst_s: float
    params: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the JSON summary."""
        return asdict(self)


def swim_suspicion_timeout(suspicion_mult: float, n_members: int, probe_period_s: float) -> float:
    """memberlist's suspicion timeout: mult * max(1, log10(n)) * probe period."""
    return suspicion_mult * max(1.0, math.log10(max(1, n_members))) * probe_period_s


def swim_detection_bound(
    probe_period_s: float,
    probe_timeout_s: float,
    suspicion_mult: float,
    n_members: int,
    *,
    suspicion_max_mult: float = 6.0,
) -> DetectionBound:
    """Detection time of SWIM with suspicion, as memberlist runs it.

    best: the dead member is probed at once (probe timeout + minimum suspicion timeout);
    expected: ~1.58 probe periods to the first probe plus the suspicion timeout;
    worst: round-robin probing reaches it after at most 2n - 1 periods, and without confirmations
    the suspicion timer runs its maximum (``suspicion_max_mult`` x the minimum, memberlist's 6).
    """
    if probe_period_s <= 0 or n_members < 1:
        raise AnalysisError("probe_period_s must be > 0 and n_members >= 1")
    suspicion = swim_suspicion_timeout(suspicion_mult, n_members, probe_period_s)
    return DetectionBound(
        kind="swim",
        best_s=probe_timeout_s + suspicion,
        expected_s=SWIM_FIRST_DETECTION_FACTOR * probe_period_s + suspicion,
        worst_s=(2 * n_members - 1) * probe_period_s + suspicion_max_mult * suspicion,
        params={
            "probe_period_s": probe_period_s,
            "probe_timeout_s": probe_timeout_s,
            "suspicion_mult": suspicion_mult,
            "n_members": n_members,
            "suspicion_timeout_s": suspicion,
        },
    )


def hub_detection_bound(interval_s: float, failure_threshold: int, timeout_s: float = 0.0) -> DetectionBound:
    """Detection by a hub's health checks: ``failure_threshold`` failed checks in a row.

    best: the first failing check starts right after the death; worst: just after a passing one
    (interval x threshold, the brief's figure); expected: halfway. Each failing check may
    also wait ``timeout_s`` before it counts.
    """
    if interval_s <= 0 or failure_threshold < 1:
        raise AnalysisError("interval_s must be > 0 and failure_threshold >= 1")
    return DetectionBound(
        kind="hub",
        best_s=(failure_threshold - 1) * interval_s + timeout_s,
        expected_s=(failure_threshold - 0.5) * interval_s + timeout_s,
        worst_s=failure_threshold * interval_s + timeout_s,
        params={"interval_s": interval_s, "failure_threshold": failure_threshold, "timeout_s": timeout_s},
    )


def ray_detection_bound(period_s: float, failure_threshold: int, timeout_s: float = 0.0) -> DetectionBound:
    """Detection by Ray when Ray restarts the agents (``healing.restarts: engine`` on the Ray engine).

    best: 0, a killed actor's worker process is seen by its raylet at once (its socket closes); expected and
    worst: a lost Ray node (its raylet gone with the region) is declared dead by the GCS's health checks after
    ``failure_threshold`` missed checks ``period_s`` apart (Ray's ``health_check_*`` system config), a check
    that hangs waiting up to ``timeout_s``.
    """
    if period_s <= 0 or failure_threshold < 1:
        raise AnalysisError("period_s must be > 0 and failure_threshold >= 1")
    return DetectionBound(
        kind="ray",
        best_s=0.0,
        expected_s=(failure_threshold - 0.5) * period_s,
        worst_s=failure_threshold * period_s + timeout_s,
        params={"period_s": period_s, "failure_threshold": failure_threshold, "timeout_s": timeout_s},
    )


def ttr_is_suspect(ttr_s: float | None, bound: DetectionBound | None, restart_delay_s: float | None) -> bool:
    """True when a measured, non-zero TTR beats the fastest possible detection + restart.

    No bound or no restart delay given, not recovered, or no impact at all (TTR 0): not suspect.
    """
    if ttr_s is None or ttr_s <= 0 or bound is None or restart_delay_s is None:
        return False
    return ttr_s < bound.best_s + restart_delay_s
