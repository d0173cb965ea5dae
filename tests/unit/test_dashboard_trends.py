"""The History page's regression flags: the scheduled runs' flags of the comparisons on show."""

from __future__ import annotations

import pandas as pd

from presentation.trends import FLAG_COLUMNS, regression_flags
from scheduling import regressions_for


def test_flags_are_limited_to_the_comparisons_shown(tmp_path) -> None:
    flags = pd.DataFrame([
        {"comparison_id": "c-1", "experiment": "node-loss", "topology": "hybrid", "metric": "resilience",
         "message": "resilience dropped", "schedule": "nightly", "fire_time": 1.0},
        {"comparison_id": "c-2", "experiment": "node-loss", "topology": "hybrid", "metric": "ttr_s",
         "message": "TTR rose", "schedule": "nightly", "fire_time": 2.0},
    ])
    trends = pd.DataFrame({"comparison_id": ["c-2"], "topology": ["hybrid"], "resilience": [90.0]})
    shown = regression_flags(flags, trends)
    assert list(shown["comparison_id"]) == ["c-2"]
    assert regression_flags(flags, trends.iloc[0:0]).columns.tolist() == FLAG_COLUMNS
    empty = regressions_for(tmp_path)
    assert empty.empty and not (tmp_path / "schedules.sqlite").exists()
