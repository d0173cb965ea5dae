"""Timing resolution: onset, TTR and TTD within 100 ms of the truth, whatever the bin width and phase.

The synthetic log has Poisson arrivals at the lab's rate (40/s) and an outage with exact, known edges placed at
several phases relative to the bins; the event log has a detection at a known millisecond.
"""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.params import AnalysisParams
from analysis.run import RunInput, analyse_run
from tests.support.synth import T0, requests_with_outage

DETECTED_AT = T0 + 2.347


def _events() -> pd.DataFrame:
    rows = [(T0 + 0.001, "node_killed", "us-east-n1", "us-east", None, None, {}),
            (DETECTED_AT, "member_dead", "us-east-n1", "us-east", None, "eu-west-n1", {})]
    return pd.DataFrame(rows, columns=["ts", "kind", "node", "region", "agent", "by", "detail"])


@pytest.mark.parametrize("dt", [0.1, 0.25, 0.5, 1.0])
@pytest.mark.parametrize(("onset", "back"), [(0.0, 7.0), (0.33, 7.61), (0.74, 12.05), (1.5, 3.92)])
@pytest.mark.parametrize("seed", [0, 1])
def test_onset_ttr_and_ttd_within_100_ms(dt, onset, back, seed) -> None:
    req = requests_with_outage(T0 + onset, T0 + back, end=T0 + 40, seed=seed)
    m = analyse_run(RunInput("r", "t", T0, requests=req, events=_events(),
                             params=AnalysisParams(dt=dt, window_s=40))).metrics
    assert m["impact_onset_s"] == pytest.approx(onset, abs=0.1)
    assert m["ttr_s"] == pytest.approx(back, abs=0.1)
    assert m["ttd_s"] == pytest.approx(DETECTED_AT - T0, abs=0.001)


def test_bin_edges_alone_are_a_bin_away_which_is_why_the_default_refines() -> None:
    req = requests_with_outage(T0 + 0.33, T0 + 7.61, end=T0 + 40)
    coarse = analyse_run(RunInput("r", "t", T0, requests=req, params=AnalysisParams(window_s=40, resolution="bin")))
    fine = analyse_run(RunInput("r", "t", T0, requests=req, params=AnalysisParams(window_s=40)))
    assert coarse.metrics["ttr_s"] == 8.0  # the next bin edge: 390 ms late
    assert fine.metrics["ttr_s"] == pytest.approx(7.61, abs=0.1)
    # the binned figures do not move with the resolution of the edges
    for key in ("depth", "resilience_loss", "resilience", "lost_tasks"):
        assert coarse.metrics[key] == fine.metrics[key]


def test_bins_finer_than_a_tenth_of_a_second_are_refused() -> None:
    from analysis.errors import AnalysisError

    with pytest.raises(AnalysisError, match="0.1"):
        AnalysisParams(dt=0.05)
