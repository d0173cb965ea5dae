"""Trends across comparisons, and the hook where regression flags plug in.

``regression_flags`` picks the scheduled runs' regression flags that belong to the comparisons shown.
The scheduling work replaces its body (e.g. resilience below the trailing median by more than its
interval, or a TTR that stopped recovering) without touching the page.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["FLAG_COLUMNS", "regression_flags"]

FLAG_COLUMNS = ["comparison_id", "experiment", "topology", "metric", "message"]


def regression_flags(flags: pd.DataFrame, trends: pd.DataFrame) -> pd.DataFrame:
    """The scheduled runs' regression flags (``scheduling.regressions_for``) of the comparisons shown in
    ``trends``, newest first; an empty frame with :data:`FLAG_COLUMNS` when there are none."""
    if flags.empty or trends.empty:
        return pd.DataFrame(columns=FLAG_COLUMNS)
    shown = flags[flags["comparison_id"].isin(set(trends["comparison_id"]))]
    return shown.reset_index(drop=True)
