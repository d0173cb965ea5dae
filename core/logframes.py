"""Whole-file readers of the ground-truth logs into pandas, with the contract's types.

Apart from ``core.logs`` (which owns the formats and is imported by every lab process) because pandas costs
most of a process's start-up; the store, the analysis adapter and the tests read logs through these.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from core.errors import BadLogFile
from core.logs import EXECUTION_DTYPES, EXECUTION_OPTIONAL, REQUEST_DTYPES, REQUEST_OPTIONAL

__all__ = ["read_request_log", "read_execution_log"]


# ---- whole-file readers (pandas) -----------------------------------------------------------------
def _read_csv_log(path: Path, dtypes: dict[str, str], what: str, optional: frozenset[str] = frozenset()
                  ) -> pd.DataFrame:
    columns = list(dtypes)
    try:
        if Path(path).stat().st_size == 0:  # created by its writer a moment ago, header not yet written: no rows
            return pd.DataFrame({c: pd.Series(dtype=t) for c, t in dtypes.items()})[columns]
    except OSError as exc:
        raise BadLogFile(f"{what} {path} is unreadable ({exc}); expected a CSV with a header") from exc
    try:
        head = pd.read_csv(path, nrows=0)
    except (OSError, ValueError, pd.errors.EmptyDataError) as exc:
        raise BadLogFile(f"{what} {path} is unreadable ({exc}); expected a CSV with a header") from exc
    missing = [c for c in columns if c not in head.columns and c not in optional]
    if missing:
        raise BadLogFile(f"{what} {path} lacks the columns {', '.join(missing)}; see docs/contracts.md")
    present = [c for c in columns if c in head.columns]
    try:
        frame = pd.read_csv(path, usecols=present, dtype={c: dtypes[c] for c in present})
    except (ValueError, TypeError) as exc:
        raise BadLogFile(f"{what} {path} has a malformed row ({exc}); fix or truncate that row") from exc
    for col in columns:
        if col not in frame.columns:
            frame[col] = pd.Series(index=frame.index, dtype=dtypes[col])  # all missing (NaN for floats)
    text = [c for c, t in dtypes.items() if t == "string"]
    frame[text] = frame[text].fillna("")
    return frame[columns]


def read_request_log(path: Path) -> pd.DataFrame:
    """Read a request log (plain or ``.gz``) with the contract's types; empty text fields load as ``""``."""
    return _read_csv_log(path, REQUEST_DTYPES, "request log", REQUEST_OPTIONAL)


def read_execution_log(path: Path) -> pd.DataFrame:
    """Read an execution log (plain or ``.gz``) with the contract's types."""
    return _read_csv_log(path, EXECUTION_DTYPES, "execution log", EXECUTION_OPTIONAL)


