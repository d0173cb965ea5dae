"""Physical detection bounds of SWIM and of hub health checks."""

from __future__ import annotations

import pytest

from analysis.bounds import (
    SWIM_FIRST_DETECTION_FACTOR,
    hub_detection_bound,
    swim_detection_bound,
    swim_suspicion_timeout,
    ttr_is_suspect,
)
from analysis.errors import AnalysisError


def test_swim_suspicion_timeout_scales_like_memberlist() -> None:
    assert swim_suspicion_timeout(4, 5, 1.0) == 4.0  # log10(5) < 1: no scaling
    assert swim_suspicion_timeout(4, 100, 1.0) == pytest.approx(8.0)
    assert swim_suspicion_timeout(4, 1000, 0.5) == pytest.approx(6.0)


def test_swim_bound() -> None:
    b = swim_detection_bound(1.0, 0.5, 4, 10)
    assert pytest.approx(1.582, abs=1e-3) == SWIM_FIRST_DETECTION_FACTOR
    assert b.expected_s == pytest.approx(1.582 + 4.0, abs=1e-3)
    assert b.best_s == pytest.approx(4.5)
    assert b.worst_s == pytest.approx(19 * 1.0 + 6 * 4.0)
    assert b.best_s <= b.expected_s <= b.worst_s
    assert b.to_dict()["params"]["suspicion_timeout_s"] == 4.0


def test_hub_bound() -> None:
    b = hub_detection_bound(1.0, 3, timeout_s=0.5)
    assert (b.best_s, b.expected_s, b.worst_s) == (2.5, 3.0, 3.5)
    assert hub_detection_bound(2.0, 3).worst_s == 6.0  # interval x threshold


def test_bad_bound_parameters() -> None:
    with pytest.raises(AnalysisError):
        swim_detection_bound(0.0, 0.5, 4, 10)
    with pytest.raises(AnalysisError):
        hub_detection_bound(1.0, 0)


def test_suspect_check() -> None:
    b = hub_detection_bound(1.0, 3)
    assert ttr_is_suspect(2.0, b, 1.0) is True
    assert ttr_is_suspect(3.0, b, 1.0) is False
    assert ttr_is_suspect(None, b, 1.0) is False  # not recovered
    assert ttr_is_suspect(0.0, b, 1.0) is False  # no impact at all
    assert ttr_is_suspect(1.0, None, 1.0) is False
    assert ttr_is_suspect(1.0, b, None) is False
