"""The synthetic inputs of tests/support/synth.py are what they claim to be."""

from __future__ import annotations

import numpy as np

from tests.support.synth import T0, requests_from_availability, series_from_requests


def test_requests_from_availability_counts() -> None:
    df = requests_from_availability([1.0, 0.5, None], baseline_bins=2, per_bin=10)
    assert len(df) == 2 * 10 + 10 + 10
    assert set(df["outcome"]) == {"ok", "error", "timeout"}
    assert df["end"].max() < T0 + 2


def test_series_from_requests_is_monotone_between_resets() -> None:
    df = requests_from_availability([1.0] * 5, baseline_bins=5, per_bin=4)
    s = series_from_requests(df)
    for _, g in s.groupby(["client_region", "outcome"]):
        assert (np.diff(g.sort_values("ts")["value"].to_numpy()) >= 0).all()
