"""Recovery figures on availability curves whose answers are known by hand."""

from __future__ import annotations

import math

import pytest

from analysis.errors import AnalysisError
from analysis.recovery import analyse_availability
from tests.support.synth import T0, avail_frame

W = 10.0
T = 120.0


def run(post, pre=None, **kw):
    pre = [1.0] * 30 if pre is None else pre
    return analyse_availability(avail_frame(pre, post), T0, sustain_s=W, window_s=T, **kw)


def test_triangular_dip_loss_is_its_area() -> None:
    # bin averages of a triangle of height 0.4 over 10 s: its area is 0.5 * 10 * 0.4 = 2.0
    dip = [0.04, 0.12, 0.20, 0.28, 0.36, 0.36, 0.28, 0.20, 0.12, 0.04]
    r = run([1 - d for d in dip] + [1.0] * 50)
    assert r.resilience_loss == pytest.approx(2.0)
    assert r.depth == pytest.approx(0.36)
    assert r.onset_s == 0.0
    assert r.ttr_s == 10.0 and r.recovered
    assert r.resilience == pytest.approx(100 * (1 - 2.0 / T))


def test_step_outage_ttr_is_outage_end_and_w_only_confirms() -> None:
    # fine for 5 s, down for 20 s, then fine: t1 is the start of the sustained good stretch
    r = run([1.0] * 5 + [0.0] * 20 + [1.0] * 40)
    assert r.onset_s == 5.0
    assert r.ttr_s == 25.0
    assert r.depth == 1.0
    assert r.resilience_loss == pytest.approx(20.0)
    assert r.availability_min == 0.0


def test_recovery_needs_a_full_sustain_window_inside_the_data() -> None:
    post = [0.0] * 20 + [1.0] * 9  # only 9 good seconds after the outage, then data ends
    r = run(post)
    assert r.ttr_s is None and not r.recovered
    assert run([0.0] * 20 + [1.0] * 10).ttr_s == 20.0


def test_never_recovers_is_censored() -> None:
    r = run([0.0] * 120)
    assert r.ttr_s is None and r.t1 is None and r.recovered is False
    assert r.resilience_loss == pytest.approx(T)
    assert r.resilience == 0.0
    assert r.impact_end == T0 + T


def test_two_dips_closer_than_w_are_one_impact() -> None:
    r = run([0.0] * 5 + [1.0] * 5 + [0.0] * 5 + [1.0] * 40)
    assert r.onset_s == 0.0
    assert r.ttr_s == 15.0
    assert r.resilience_loss == pytest.approx(10.0)


def test_second_dip_after_recovery_is_not_part_of_the_impact() -> None:
    # t1 is the first time after onset from which A holds for W: the gap of 12 s > W qualifies
    r = run([0.0] * 5 + [1.0] * 12 + [0.0] * 5 + [1.0] * 40)
    assert r.ttr_s == 5.0
    assert r.resilience_loss == pytest.approx(5.0)


def test_noise_within_eps_is_no_impact() -> None:
    pre = [1.0, 0.995] * 15
    post = [0.99, 1.0, 0.995, 0.992] * 20
    r = run(post, pre=pre)
    assert r.baseline == pytest.approx(0.9975)
    assert r.onset_s is None
    assert r.ttr_s == 0.0 and r.recovered
    assert r.depth == 0.0 and r.resilience_loss == 0.0 and r.resilience == 100.0


def test_late_dip_is_found_and_ttr_counts_from_injection() -> None:
    r = run([1.0] * 15 + [0.0] * 3 + [1.0] * 30)
    assert r.onset_s == 15.0
    assert r.ttr_s == 18.0


def test_missing_baseline_bins_are_ignored() -> None:
    r = run([1.0] * 20, pre=[None, 0.9, None, 0.8, None])
    assert r.baseline == pytest.approx(0.85)


def test_missing_bins_after_injection_are_never_impact() -> None:
    r = run([None] * 5 + [1.0] * 20)
    assert r.onset_s is None and r.ttr_s == 0.0 and r.resilience_loss == 0.0


def test_missing_bins_inside_an_outage_carry_the_outage() -> None:
    r = run([0.0] * 5 + [None] * 5 + [0.0] * 5 + [1.0] * 30)
    assert r.ttr_s == 15.0
    assert r.resilience_loss == pytest.approx(15.0)
    assert r.depth == 1.0


def test_missing_bins_after_recovery_carry_the_recovery() -> None:
    r = run([0.0] * 5 + [1.0] * 3 + [None] * 4 + [1.0] * 30)
    assert r.ttr_s == 5.0


def test_recovery_starts_on_an_observed_bin() -> None:
    # the first bins after the outage are missing: recovery is dated at the first good observation
    r = run([0.0] * 5 + [None] * 3 + [1.0] * 30)
    assert r.ttr_s == 8.0
    assert r.resilience_loss == pytest.approx(8.0)


def test_absent_rows_equal_nan_rows() -> None:
    full = avail_frame([1.0] * 10, [0.0] * 3 + [None] * 2 + [1.0] * 20)
    sparse = full.dropna()
    a = analyse_availability(full, T0, sustain_s=W, window_s=T)
    b = analyse_availability(sparse, T0, sustain_s=W, window_s=T)
    assert a == b


def test_no_baseline_is_an_error_naming_the_fix() -> None:
    with pytest.raises(AnalysisError, match="baseline"):
        run([1.0] * 10, pre=[None, None])


def test_baseline_window_limits_the_steady_state() -> None:
    r = run([1.0] * 20, pre=[0.0] * 10 + [1.0] * 10, baseline_s=10)
    assert r.baseline == 1.0


def test_resilience_uses_the_fixed_window() -> None:
    r = analyse_availability(avail_frame([1.0] * 5, [0.0] * 6 + [1.0] * 60), T0, window_s=60, sustain_s=W)
    assert r.resilience == pytest.approx(100 * (1 - 6 / 60))
    assert math.isclose(r.resilience_loss, 6.0)
