"""One exception tree for the whole project.

A :class:`UserError` is something the user can fix (a bad file, a missing binary, an
unreachable server); the command line prints its message on one line and exits with 2.
Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations

__all__ = [
    "AftershockError",
    "UserError",
    "TopologyError",
    "LabError",
    "LabNotFound",
    "StoreError",
    "CollectorError",
    "ExperimentError",
    "ReportError",
    "ScheduleError",
    "AnalysisError",
    "UnsupportedFault",
    "BadLogFile",
    "EngineError",
    "EmergencyStopped",
]


class AftershockError(Exception):
    """Base of every error Aftershock raises on purpose."""


class UserError(AftershockError):
    """An error the user can fix; the message says what is wrong and how to fix it."""

    exit_code = 2


class TopologyError(UserError):
    """A topology file is missing, malformed or inconsistent."""


class LabError(AftershockError):
    """A lab failed to start, answer or stop."""


class LabNotFound(UserError):
    """The named lab is not running."""


class StoreError(AftershockError):
    """The run store is unreadable, or a run or comparison is missing."""


class CollectorError(UserError):
    """A metrics source (a scrape target or a Prometheus server) failed."""


class ExperimentError(UserError):
    """A chaos experiment file is malformed or cannot run here."""


class ReportError(UserError):
    """A report cannot be produced (unknown id, missing tool, bad path)."""


class ScheduleError(UserError):
    """A schedule is invalid (bad cron expression, unknown experiment, duplicate name)."""


class AnalysisError(UserError):
    """The data of a run cannot be analysed (no requests, no injection time, bad parameters)."""


class EngineError(UserError):
    """An engine (a Ray cluster, a Kubernetes context) is unreachable, misconfigured or too old."""


class UnsupportedFault(UserError):
    """The engine cannot perform this fault; the message names the engine, the fault and why."""


class BadLogFile(StoreError, UserError):
    """A request, event or execution log is missing, truncated or not in the contract's format."""


class EmergencyStopped(UserError):
    """An emergency stop is in force (``aftershock stop --all``); nothing that injects chaos may start."""
