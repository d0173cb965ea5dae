"""Run and comparison ids: short, sortable by creation time, readable (``r-20261127-021530-ab12``)."""

from __future__ import annotations

import secrets
import time

__all__ = ["new_id", "RUN_PREFIX", "COMPARISON_PREFIX"]

RUN_PREFIX = "r"
COMPARISON_PREFIX = "c"


def new_id(prefix: str, now: float) -> str:
    """``<prefix>-YYYYMMDD-HHMMSS-xxxx`` in UTC; four random hex digits separate ids of the same second."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(now))
    return f"{prefix}-{stamp}-{secrets.token_hex(2)}"
