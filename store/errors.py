"""The store's exceptions, all under :class:`core.errors.StoreError`.

The ones a user can fix are also :class:`~core.errors.UserError`, so the command line prints
them as one line and exits with 2; their messages name the path or id and say what to do.
"""

from __future__ import annotations

from core.errors import BadLogFile, StoreError, UserError

__all__ = [
    "StoreError",
    "StoreCorrupt",
    "StoreMissing",
    "StoreTooNew",
    "StoreReadOnly",
    "RunNotFound",
    "ComparisonNotFound",
    "StoreNeedsMigration",
    "InvalidRecord",
    "BadLogFile",
    "NoRequestLog",
]


class StoreCorrupt(StoreError, UserError):
    """The file at the store path is not an SQLite database, or not one Aftershock wrote."""

class StoreMissing(StoreError, UserError):
    """A read-only open found no store (nothing has been recorded yet)."""

class StoreTooNew(StoreError, UserError):
    """The store was written by a newer Aftershock (its schema version is unknown here)."""

class StoreReadOnly(StoreError):
    """A write was attempted through a store opened with ``readonly=True``: a bug in the caller."""

class RunNotFound(StoreError, UserError):
    """No run with that id."""
    def __init__(self, run_id: str, path: object) -> None:
        super().__init__(f"no run {run_id} in the store at {path}; list runs with `aftershock runs`")
        self.run_id = run_id


class ComparisonNotFound(StoreError, UserError):
    """No comparison with that id."""
    def __init__(self, comparison_id: str, path: object) -> None:
        super().__init__(f"no comparison {comparison_id} in the store at {path}; list runs with `aftershock runs`")
        self.comparison_id = comparison_id


class InvalidRecord(StoreError, ValueError):
    """A record handed to the store breaks its contract (unknown status, activity type...): a caller bug."""

class StoreNeedsMigration(StoreError, UserError):
    """A read-only open found an older schema; only a writable open migrates."""

class NoRequestLog(StoreError, UserError):
    """The run has no request log attached (or its kept copy was removed)."""
