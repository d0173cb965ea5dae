"""Load shapes ask their rates: arrivals drawn by thinning match the integral of the asked rate within 5 %."""

from __future__ import annotations

import math
import random

import pytest
from pydantic import TypeAdapter, ValidationError

from fleet.shapes import (
    Bursty,
    Constant,
    Diurnal,
    LoadShape,
    Ramp,
    Surge,
    arrival_times,
    expected_count,
    peak_factor,
    rate_function,
)

BASE = 400.0
SHAPES = {
    "constant": Constant(),
    "ramp": Ramp(kind="ramp", from_factor=0.2, to_factor=1.5, ramp_s=40),
    "surge": Surge(kind="surge", factor=3, start_s=10, duration_s=10),
    "diurnal": Diurnal(kind="diurnal", period_s=40, amplitude=0.8),
    "bursty": Bursty(kind="bursty", burst_factor=5, burst_s=2, mean_gap_s=8),
}


def _draw(shape: LoadShape, horizon: float, seed: int = 7) -> list[float]:
    rate = rate_function(shape, BASE, seed)
    out = []
    for t in arrival_times(rate, BASE * peak_factor(shape), random.Random(seed)):
        if t >= horizon:
            break
        out.append(t)
    return out


@pytest.mark.parametrize("name", sorted(SHAPES))
def test_each_window_gets_its_asked_rate_within_5_percent(name: str) -> None:
    shape = SHAPES[name]
    arrivals = _draw(shape, 60.0)
    rate = rate_function(shape, BASE, 7)  # the same seed: the same bursts
    for start in range(0, 60, 10):
        asked = expected_count(rate, start, start + 10)
        got = sum(start <= t < start + 10 for t in arrivals)
        assert abs(got - asked) / asked < 0.05, (name, start, got, asked)


def test_surge_asks_k_times_for_its_duration_and_nothing_else() -> None:
    rate = rate_function(SHAPES["surge"], BASE)
    assert rate(9.99) == BASE and rate(10.0) == 3 * BASE and rate(19.99) == 3 * BASE and rate(20.0) == BASE


def test_ramp_and_diurnal_follow_their_formulas() -> None:
    ramp = rate_function(SHAPES["ramp"], BASE)
    assert ramp(0) == pytest.approx(0.2 * BASE) and ramp(20) == pytest.approx(0.85 * BASE)
    assert ramp(400) == pytest.approx(1.5 * BASE)  # held after the ramp
    day = rate_function(SHAPES["diurnal"], BASE)
    assert day(0) == pytest.approx(0.2 * BASE) and day(20) == pytest.approx(1.8 * BASE)  # trough, then peak
    assert expected_count(day, 0, 40) == pytest.approx(40 * BASE, rel=1e-3)  # a whole period averages the base


def test_bursty_bursts_are_seeded_and_take_their_share_of_time() -> None:
    a, b, c = (rate_function(SHAPES["bursty"], BASE, s) for s in (1, 1, 2))
    grid = [i * 0.05 for i in range(40_000)]
    assert [a(t) for t in grid] == [b(t) for t in grid]
    assert [a(t) for t in grid] != [c(t) for t in grid]
    share = sum(a(t) > BASE for t in grid) / len(grid)
    assert share == pytest.approx(2 / 8, abs=0.05)  # burst_s / mean cycle (burst + mean gap between bursts)


def test_same_seed_same_arrivals_other_seed_other_arrivals() -> None:
    assert _draw(SHAPES["surge"], 5.0, 3) == _draw(SHAPES["surge"], 5.0, 3)
    assert _draw(SHAPES["surge"], 5.0, 3) != _draw(SHAPES["surge"], 5.0, 4)


def test_bad_shapes_are_refused_with_the_field() -> None:
    adapter: TypeAdapter[LoadShape] = TypeAdapter(LoadShape)
    with pytest.raises(ValidationError, match="mean_gap_s"):
        adapter.validate_python({"kind": "bursty", "burst_s": 5, "mean_gap_s": 4})
    with pytest.raises(ValidationError):
        adapter.validate_python({"kind": "tsunami"})
    assert math.isclose(peak_factor(adapter.validate_python({"kind": "surge", "factor": 0.5})), 1.0)
