"""The embedded run store: runs, comparisons, series, events, journals and timelines in one SQLite file.

``RunStore.open(settings.store_dir)`` is the door; see docs/store.md for the design and the figures.
"""

from __future__ import annotations

from .errors import (
    BadLogFile,
    ComparisonNotFound,
    InvalidRecord,
    NoRequestLog,
    RunNotFound,
    StoreCorrupt,
    StoreError,
    StoreMissing,
    StoreNeedsMigration,
    StoreReadOnly,
    StoreTooNew,
)
from .runrecord import ComparisonRecord, RunRecord
from .runstore import DB_NAME, EventLogResult, RunStore
from .schema import SCHEMA_VERSION

__all__ = [
    "RunStore",
    "RunRecord",
    "ComparisonRecord",
    "EventLogResult",
    "DB_NAME",
    "SCHEMA_VERSION",
    "StoreError",
    "StoreCorrupt",
    "StoreMissing",
    "StoreTooNew",
    "StoreNeedsMigration",
    "StoreReadOnly",
    "RunNotFound",
    "ComparisonNotFound",
    "InvalidRecord",
    "BadLogFile",
    "NoRequestLog",
]
