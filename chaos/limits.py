"""Ranges of what an experiment may ask for: numbers an experiment file gives literally are checked when it is
loaded, so ``count: -5`` or ``pauses: {after: .nan}`` fails with one line before anything starts, not mid-run.

Values that are Chaos Toolkit substitutions (``${aftershock_fault_s}``) are resolved only at run time; the
actions check them again then (chaos/actions.py).
"""

from __future__ import annotations

import math
from typing import Any

from core.errors import ExperimentError

__all__ = ["ARGUMENT_RANGES", "PAUSE_MAX_S", "check_limits"]

PAUSE_MAX_S = 86_400.0
#: argument name -> (lowest, highest, integer only) for the extension's actions and probes.
ARGUMENT_RANGES: dict[str, tuple[float, float, bool]] = {
    "count": (0, 100_000, True),
    "percent": (0, 100, False),
    "times": (1, 1_000, True),
    "interval_s": (0.001, 3_600, False),
    "uptime_s": (0, 3_600, False),
    "duration_s": (0, PAUSE_MAX_S, False),
    "restart_after_s": (0, 3_600, False),
    "latency_ms": (0, 60_000, False),
    "loss": (0, 1, False),
    "cpu_percent": (1, 99, False),
    "window_s": (0.1, 3_600, False),
    "intensity": (0, 1_000_000, False),
}
_CONFIG_RANGES = {"aftershock_max_fault_s": (1.0, 86_400.0), "aftershock_baseline_s": (0.0, PAUSE_MAX_S),
                  "aftershock_fault_s": (0.0, PAUSE_MAX_S)}


def _literal_number(value: Any) -> float | None:
    """The number a value will be used as: a YAML number, or a string that ``float()`` reads (YAML 1.1 reads
    ``1e12`` as a string); None for anything else, substitutions (``${...}``) included."""
    if isinstance(value, str) and "${" not in value:
        try:
            return float(value)
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _check(value: Any, low: float, high: float, integer: bool, what: str) -> None:
    number = _literal_number(value)
    if number is None:
        return
    if not math.isfinite(number) or not low <= number <= high or (integer and not float(number).is_integer()):
        kind = "a whole number" if integer else "a number"
        raise ExperimentError(f"{what} must be {kind} in {low:g}..{high:g}, not {value!r}")


def check_limits(data: dict[str, Any], source: str, activities: list[tuple[str, dict[str, Any]]]) -> None:
    """Raise :class:`ExperimentError` (one line, naming the activity) for the first number out of range."""
    for key, (low, high) in _CONFIG_RANGES.items():
        _check((data.get("configuration") or {}).get(key), low, high, False, f"{source}: configuration {key}")
    for where, activity in activities:
        name = activity.get("name", "<unnamed>")
        pauses = activity.get("pauses") or {}
        if not isinstance(pauses, dict):
            raise ExperimentError(f"{source}: {where} activity {name!r}: pauses must be a mapping of before/after")
        for when, value in pauses.items():
            _check(value, 0, PAUSE_MAX_S, False, f"{source}: {where} activity {name!r}: pause {when}")
        provider = activity.get("provider") or {}
        if provider.get("module") not in ("chaos.actions", "chaos.probes"):
            continue
        for arg, value in (provider.get("arguments") or {}).items():
            what = f"{source}: {where} activity {name!r}: argument {arg!r}"
            if arg in ARGUMENT_RANGES:
                low, high, integer = ARGUMENT_RANGES[arg]
                _check(value, low, high, integer, what)
            elif (number := _literal_number(value)) is not None and not math.isfinite(number):
                raise ExperimentError(f"{what} must be a finite number, not {value!r}")
