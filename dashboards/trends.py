"""Trends across comparisons, and the hook where regression flags plug in.

``regression_flags`` is called by the History page with the trend frame; today it flags nothing.
The scheduling work replaces its body (e.g. resilience below the trailing median by more than its
interval, or a TTR that stopped recovering) without touching the page.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["FLAG_COLUMNS", "regression_flags"]

FLAG_COLUMNS = ["comparison_id", "experiment", "topology", "metric", "message"]


def regression_flags(trends: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``trends`` (comparison_id, experiment, created_at, topology, resilience, ttr_s, ...) that regressed.

    Hook for scheduled runs: returns an empty frame with :data:`FLAG_COLUMNS` until implemented.
    """
    del trends
    return pd.DataFrame(columns=FLAG_COLUMNS)
