"""Properties that must hold for any availability curve or request log."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis.recovery import analyse_availability
from analysis.run import RunInput, analyse_run
from tests.support.synth import T0, avail_frame, requests_from_bins

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
level = st.one_of(st.none(), st.floats(0.0, 1.0))


@FAST
@given(
    pre=st.lists(level, min_size=1, max_size=20).filter(lambda xs: any(x is not None for x in xs)),
    post=st.lists(level, max_size=80),
    sustain=st.sampled_from([0.0, 1.0, 5.0, 10.0]),
    window=st.sampled_from([20.0, 60.0, 90.5]),
)
def test_recovery_invariants(pre, post, sustain, window) -> None:
    r = analyse_availability(avail_frame(pre, post), T0, sustain_s=sustain, window_s=window)
    assert r.resilience_loss >= 0.0
    assert r.resilience is None or 0.0 <= r.resilience <= 100.0
    assert 0.0 <= r.depth <= 1.0
    assert r.recovered == (r.ttr_s is not None)
    if r.recovered and r.onset_s is not None:
        assert r.onset_s <= r.ttr_s
    if r.onset_s is None and r.recovered:
        assert r.ttr_s == 0.0 and r.resilience_loss == 0.0
    if r.resilience is not None:
        expected = 100 * (1 - r.resilience_loss / (r.baseline * window))
        assert math.isclose(r.resilience, expected, abs_tol=1e-6) or r.resilience in (0.0, 100.0)


outcome_bin = st.tuples(st.integers(0, 4), st.integers(0, 3), st.integers(0, 2))


@FAST
@given(
    bins=st.lists(outcome_bin, min_size=3, max_size=40),
    seed=st.integers(0, 2**31 - 1),
)
def test_run_summary_ignores_row_order(bins, seed) -> None:
    bins = [(5, 0, 0)] * 5 + bins  # a steady state before injection
    req = requests_from_bins(bins, start=T0 - 5, sessions=4)
    params_kw = {"run_id": "p", "topology": "t", "injected_at": T0}
    a = analyse_run(RunInput(requests=req, **params_kw))
    order = np.random.default_rng(seed).permutation(len(req))
    b = analyse_run(RunInput(requests=req.iloc[order].reset_index(drop=True), **params_kw))
    assert a.to_json_dict() == b.to_json_dict()
    m = a.metrics
    # no figure for a window the run did not see: R is null exactly when the data stops early
    assert (m["resilience"] is None) == a.partial["partial"]
    assert m["resilience"] is None or 0.0 <= m["resilience"] <= 100.0
    assert m["resilience_loss"] >= 0.0
    if m["recovered"] and m["impact_onset_s"] is not None:
        assert m["impact_onset_s"] <= m["ttr_s"]
