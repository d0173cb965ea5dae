"""Availability per bin from the request log and from scraped counters, and their agreement."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.availability import availability_from_requests, availability_from_series
from analysis.errors import AnalysisError
from analysis.series import CLIENT_REQUESTS, counter_increase, histogram_quantile, quantile_from_series
from tests.support.synth import T0, requests_from_availability, requests_from_bins, series_from_requests

STEP = [1.0] * 5 + [0.0] * 20 + [1.0] * 40


def test_request_bins_count_by_end_time() -> None:
    df = requests_from_bins([(3, 1, 0), (0, 0, 0), (1, 0, 1)], start=T0)
    a = availability_from_requests(df, 1.0, T0, T0 + 3)
    assert list(a.columns) == ["t", "ok", "failed", "timeout", "rejected", "total", "availability"]
    assert a["t"].tolist() == [T0, T0 + 1, T0 + 2]
    assert a["total"].tolist() == [4, 0, 2]
    assert a["availability"].iloc[0] == 0.75
    assert np.isnan(a["availability"].iloc[1])  # missing, never 0 or 1
    assert a["availability"].iloc[2] == 0.5


def test_requests_outside_the_range_are_left_out() -> None:
    df = requests_from_bins([(2, 0, 0)] * 4, start=T0)
    a = availability_from_requests(df, 1.0, T0 + 1, T0 + 3)
    assert a["total"].sum() == 4


def test_per_region_frame() -> None:
    df = requests_from_bins([(4, 0, 0), (2, 2, 0)], start=T0, regions=("a", "b"))
    a = availability_from_requests(df, 1.0, T0, T0 + 2, per_region=True)
    assert list(a.columns) == ["t", "client_region", "ok", "failed", "timeout", "rejected", "total", "availability"]
    assert sorted(set(a["client_region"])) == ["a", "b"]
    assert a["total"].sum() == 8


def test_unknown_outcome_is_named() -> None:
    df = requests_from_bins([(2, 0, 0)], start=T0)
    df.loc[0, "outcome"] = "shed"
    with pytest.raises(AnalysisError, match="shed"):
        availability_from_requests(df, 1.0, T0, T0 + 1)


def test_missing_column_is_named() -> None:
    with pytest.raises(AnalysisError, match="outcome"):
        availability_from_requests(pd.DataFrame({"end": [1.0]}), 1.0, 0.0, 2.0)


def test_counter_increase_handles_resets() -> None:
    cum = counter_increase(np.array([0.0, 1.0, 2.0, 3.0]), np.array([5.0, 8.0, 2.0, 4.0]))
    assert cum.tolist() == [0.0, 3.0, 5.0, 7.0]


def test_series_bins_interpolate_increases() -> None:
    rows = [
        {"ts": T0 + s, "metric": CLIENT_REQUESTS, "value": v, "client_region": "a", "outcome": "ok"}
        for s, v in [(0.0, 0.0), (2.0, 20.0), (3.0, 30.0)]
    ]
    a = availability_from_series(pd.DataFrame(rows), 1.0, T0, T0 + 4)
    assert a["ok"].iloc[:3].tolist() == [10.0, 10.0, 10.0]
    assert np.isnan(a["availability"].iloc[3])  # after the last scrape: unknown


def _both(jitter: float, offset: float, reset_at: float | None = None):
    req = requests_from_availability(STEP, per_bin=40)
    ser = series_from_requests(req, jitter=jitter, offset=offset, reset_at=reset_at)
    start, end = T0 - 28, T0 + 60
    a_req = availability_from_requests(req, 1.0, start, end)
    a_ser = availability_from_series(ser, 1.0, start, end)
    assert a_ser["t"].tolist() == a_req["t"].tolist()
    return a_req, a_ser


def test_scrapes_on_bin_edges_give_exactly_the_request_log() -> None:
    a_req, a_ser = _both(jitter=0.0, offset=0.0)
    known = ~np.isnan(a_ser["availability"].to_numpy())
    assert known.sum() >= len(known) - 2
    for col in ("ok", "failed", "timeout", "availability"):
        assert np.allclose(a_ser[col][known], a_req[col][known])


def test_a_counter_reset_only_loses_the_requests_between_last_scrape_and_reset() -> None:
    a_req, a_ser = _both(jitter=0.0, offset=0.0, reset_at=T0 - 7.3)
    known = ~np.isnan(a_ser["availability"].to_numpy())
    diff = a_req["total"][known].to_numpy() - a_ser["total"][known].to_numpy()
    reset_bin = a_req["t"][known].to_numpy() == T0 - 8
    assert np.allclose(diff[~reset_bin], 0.0)
    assert diff[reset_bin][0] == pytest.approx(0.7 * 40, abs=1)


@pytest.mark.parametrize(("jitter", "offset", "reach"), [(0.0, 0.5, 1), (0.2, 0.3, 2)])
@pytest.mark.parametrize("reset_at", [None, T0 - 7.3])
def test_series_bins_blend_the_request_bins_within_a_scrape(jitter, offset, reach, reset_at) -> None:
    # a request is counted within one scrape interval of its end: a series bin is a blend
    # (between min and max) of the request-log bins that interval can reach; with scrapes every
    # 1 s that is the neighbouring bin, with 1.4 s jittered intervals up to two bins away
    a_req, a_ser = _both(jitter, offset, reset_at)
    r, s = a_req["availability"].to_numpy(), a_ser["availability"].to_numpy()
    known = ~np.isnan(s)
    for k in np.flatnonzero(known):
        around = r[max(0, k - reach) : k + reach + 1]
        assert np.nanmin(around) - 1e-9 <= s[k] <= np.nanmax(around) + 1e-9
    # the outage (A < 0.5) starts and ends within one bin of the ground truth
    down_r, down_s = np.flatnonzero(r < 0.5), np.flatnonzero(known & (s < 0.5))
    assert abs(down_s[0] - down_r[0]) <= 1 and abs(down_s[-1] - down_r[-1]) <= 1
    # nothing invented or lost
    assert a_ser["total"][known].sum() == pytest.approx(a_req["total"][known].sum(), abs=40)


def test_series_per_region_matches_requests() -> None:
    req = requests_from_availability([1.0] * 10, per_bin=10)
    ser = series_from_requests(req, jitter=0.0)
    a = availability_from_series(ser, 1.0, T0 - 20, T0 + 5, per_region=True)
    assert sorted(set(a["client_region"])) == ["eu-west", "us-east"]
    assert set(a["availability"].dropna()) == {1.0}


def test_histogram_quantile_like_prometheus() -> None:
    le = np.array([0.1, 0.5, 1.0, np.inf])
    counts = np.array([50.0, 90.0, 100.0, 100.0])
    assert histogram_quantile(le, counts, 0.5) == pytest.approx(0.1)
    assert histogram_quantile(le, counts, 0.99) == pytest.approx(0.5 + 0.5 * 9 / 10)
    assert histogram_quantile(le, np.zeros(4), 0.99) is None


def test_quantile_from_series_uses_the_increase_in_the_window() -> None:
    name = "aftershock_client_request_duration_seconds_bucket"
    rows = []
    for ts, before in [(T0, 0.0), (T0 + 10, 100.0)]:
        for le, share in [("0.1", 1.0), ("1.0", 1.0), ("+Inf", 1.0)]:
            rows.append({"ts": ts, "metric": name, "value": before * share, "le": le})
    # after T0 + 10 every new request is slow (between 0.1 and 1.0)
    for le, extra in [("0.1", 0.0), ("1.0", 100.0), ("+Inf", 100.0)]:
        rows.append({"ts": T0 + 20, "metric": name, "value": 100.0 + extra, "le": le})
    df = pd.DataFrame(rows)
    assert quantile_from_series(df, 0.99, T0, T0 + 10) == pytest.approx(0.099)
    assert quantile_from_series(df, 0.99, T0 + 10, T0 + 20) > 0.9
