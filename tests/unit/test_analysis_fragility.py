"""Fragility classification of harm-versus-intensity curves."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.fragility import chord_gap, classify_fragility, fragility_curves, harm_from_resilience


@pytest.mark.parametrize(
    ("harms", "shape"),
    [
        ([0.0, 0.05, 0.2, 0.6], "fragile"),  # accelerating: convex
        ([0.0, 0.2, 0.4, 0.6], "degrading"),  # linear
        ([0.0, 0.4, 0.5, 0.55], "degrading"),  # saturating
        ([0.10, 0.10, 0.11, 0.12], "robust"),  # flat within tol
        ([0.3, 0.2, 0.1, 0.05], "antifragile"),  # harm falls
    ],
)
def test_shapes(harms, shape) -> None:
    assert classify_fragility([0, 1, 2, 3], harms) == shape


def test_two_points_use_the_slope_rule() -> None:
    assert classify_fragility([0, 1], [0.0, 0.5]) == "degrading"
    assert classify_fragility([0, 1], [0.2, 0.21]) == "robust"
    assert classify_fragility([0, 1], [0.5, 0.1]) == "antifragile"


def test_missing_points_are_dropped_and_order_does_not_matter() -> None:
    assert classify_fragility([3, None, 0, 1, 2], [0.6, 0.9, 0.0, None, 0.2]) == "fragile"
    assert classify_fragility([0, 1, 2], [None, None, 0.4]) == "unknown"
    assert classify_fragility([], []) == "unknown"


def test_chord_gap_handles_uneven_spacing() -> None:
    assert chord_gap([0, 1, 4], [0.0, 0.25, 1.0]) == pytest.approx(0.0)  # on the chord
    assert chord_gap([0, 1], [0.0, 1.0]) is None


def test_tolerance_is_a_parameter() -> None:
    assert classify_fragility([0, 1, 2], [0.0, 0.01, 0.05], tol=0.1) == "robust"
    assert classify_fragility([0, 1, 2], [0.0, 0.01, 0.05], tol=0.001) == "fragile"


def test_curves_per_topology_with_repeats_and_resilience() -> None:
    df = pd.DataFrame(
        {
            "topology": ["c"] * 6 + ["d"] * 3,
            "intensity": [0, 0, 1, 1, 2, 2, 0, 1, 2],
            "resilience": [100, 100, 95, 93, 30, 40, 100, 99, 99],
        }
    )
    out = fragility_curves(df)
    assert out["topology"].tolist() == ["c", "d"]
    assert out["shape"].tolist() == ["fragile", "robust"]
    assert out.loc[0, "harm_last"] == pytest.approx(0.65)
    assert harm_from_resilience(80.0) == pytest.approx(0.2) and harm_from_resilience(None) is None


def test_curves_need_their_columns() -> None:
    with pytest.raises(AnalysisError, match="intensity"):
        fragility_curves(pd.DataFrame({"topology": ["a"], "harm": [0.1]}))
