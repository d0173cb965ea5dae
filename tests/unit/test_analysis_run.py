"""One run end to end: every figure of the summary from a request log, from series, from events."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from analysis.bounds import hub_detection_bound
from analysis.detection import time_to_detect, victims_from_events
from analysis.errors import AnalysisError
from analysis.params import AnalysisParams
from analysis.run import METRIC_KEYS, RunInput, analyse_run
from tests.support.synth import T0, requests_from_availability, requests_from_bins, series_from_requests

STEP = [1.0] * 5 + [0.0] * 20 + [1.0] * 95


def events(*rows) -> pd.DataFrame:
    cols = ["ts", "kind", "node", "region", "agent", "by", "detail"]
    return pd.DataFrame([dict(zip(cols, r, strict=False)) for r in rows], columns=cols)


EVENTS = events(
    (T0 - 50, "lab_started", None, None),
    (T0 + 0.1, "node_killed", "us-east-n1", "us-east"),
    (T0 + 1.0, "member_dead", "eu-west-n2", "eu-west", None, "x"),
    (T0 + 2.5, "member_dead", "us-east-n1", "us-east", None, "eu-west-n1"),
    (T0 + 3.0, "member_dead", "us-east-n1", "us-east", None, "ap-south-n1"),
)


def test_step_outage_from_the_request_log() -> None:
    req = requests_from_availability(STEP, per_bin=10)
    m = analyse_run(RunInput("r1", "centralized", T0, requests=req, events=EVENTS, request_log_path="x.csv"))
    assert m.source == "request_log" and m.request_log == "x.csv"
    assert set(m.metrics) == set(METRIC_KEYS)
    mt = m.metrics
    assert mt["availability_baseline"] == 1.0 and mt["availability_min"] == 0.0
    assert (mt["impact_onset_s"], mt["ttr_s"], mt["ttd_s"]) == (5.0, 25.0, 2.5)
    assert mt["recovered"] is True and mt["depth"] == 1.0
    assert mt["resilience_loss"] == pytest.approx(20.0)
    assert mt["resilience"] == pytest.approx(100 * (1 - 20 / 120))
    assert mt["lost_tasks"] == 200
    assert mt["blast_radius_regions"] == 1.0
    assert mt["blast_radius_sessions"] == 1.0  # 20 sessions rotate through every bin
    assert mt["p99_inflation"] == pytest.approx(1.0)  # successes only: failures (2 s) are time to fail
    assert mt["time_to_fail_p99_s"] == pytest.approx(2.0) and mt["p99_ok_s"] == pytest.approx(0.1)
    burn = mt["budget_burn"]
    assert burn["error_ratio"] == pytest.approx(200 / 1200)
    assert burn["rate"] == pytest.approx(200 / 1200 / 0.001)
    assert burn["minutes_consumed"] == pytest.approx(200 / 1200 * 2.0)
    assert burn["budget_minutes"] == pytest.approx(43.2)
    json.dumps(m.to_json_dict(), allow_nan=False)


def test_never_recovering_run_is_censored_not_invented() -> None:
    req = requests_from_availability([0.0] * 120, per_bin=5)
    m = analyse_run(RunInput("r2", "centralized", T0, requests=req))
    assert m.metrics["ttr_s"] is None and m.metrics["recovered"] is False
    assert m.metrics["resilience"] == 0.0
    assert m.metrics["ttd_s"] is None
    assert any("not recovered" in n for n in m.notes)
    d = m.to_json_dict()
    assert d["metrics"]["ttr_s"] is None


def test_no_impact_run() -> None:
    req = requests_from_availability([1.0] * 120, per_bin=5)
    mt = analyse_run(RunInput("r3", "decentralized", T0, requests=req)).metrics
    assert mt["impact_onset_s"] is None and mt["ttr_s"] == 0.0 and mt["recovered"]
    assert mt["lost_tasks"] == 0 and mt["blast_radius_regions"] == 0.0 and mt["blast_radius_sessions"] == 0.0
    assert mt["p99_inflation"] == pytest.approx(1.0)
    assert mt["resilience"] == 100.0


def test_blast_radius_counts_only_hurt_regions() -> None:
    bins = [(8, 0, 0)] * 30 + [(4, 4, 0)] * 5 + [(8, 0, 0)] * 120
    req = requests_from_bins(bins, start=T0 - 30, regions=("a", "b"))
    # every failure lands on region b (odd rows of each bin): make region a see only successes
    bad = req["outcome"] != "ok"
    req.loc[bad, "client_region"] = "b"
    req.loc[~bad & (req["end"] >= T0) & (req["end"] < T0 + 5), "client_region"] = "a"
    later = req.index[(req["end"] > T0 + 50)][0]
    req.loc[later, "client_region"] = "c"  # a region that saw nothing during the impact
    mt = analyse_run(RunInput("r4", "hybrid", T0, requests=req)).metrics
    assert mt["blast_radius_regions"] == pytest.approx(1 / 3)


def test_sessions_lost_and_memory_loss_seen_after_recovery() -> None:
    req = requests_from_availability([1.0] * 120, per_bin=10, sessions=10)
    late = (req["end"] > T0 + 60) & (req["session"].isin(["s1", "s2"]))
    req.loc[late, "session_ok"] = 0.0
    mt = analyse_run(RunInput("r5", "hybrid", T0, requests=req)).metrics
    assert mt["sessions_lost"] == 2
    assert mt["blast_radius_sessions"] == pytest.approx(2 / 10)


def test_series_source_matches_the_request_log() -> None:
    req = requests_from_availability(STEP, per_bin=20)
    ser = series_from_requests(req, jitter=0.0, offset=0.5, reset_at=T0 + 60.2)
    a = analyse_run(RunInput("r", "centralized", T0, requests=req)).metrics
    b_run = analyse_run(RunInput("r", "centralized", T0, series=ser))
    b = b_run.metrics
    assert b_run.source == "series"
    assert abs(b["ttr_s"] - a["ttr_s"]) <= 1.0
    assert abs(b["impact_onset_s"] - a["impact_onset_s"]) <= 1.0
    assert b["resilience_loss"] == pytest.approx(a["resilience_loss"], abs=1.0)
    assert b["lost_tasks"] == pytest.approx(a["lost_tasks"], abs=20)
    assert b["blast_radius_regions"] == a["blast_radius_regions"]
    assert b["blast_radius_sessions"] is None and b["sessions_lost"] is None and b["p99_inflation"] is None


def test_detection_from_events() -> None:
    assert time_to_detect(EVENTS, T0) == 2.5
    assert time_to_detect(EVENTS, T0, victims={"eu-west-n2"}) == 1.0
    assert time_to_detect(EVENTS, T0, victim_regions={"us-east"}) == 2.5
    assert time_to_detect(EVENTS, T0, victims={"nobody"}) is None
    assert time_to_detect(EVENTS, T0 + 10) is None
    assert victims_from_events(EVENTS, T0) == (frozenset({"us-east-n1"}), frozenset())


def test_region_kill_makes_its_nodes_victims() -> None:
    ev = events((T0, "region_killed", None, "ap-south"), (T0 + 4, "member_dead", "ap-south-n1", "ap-south"))
    assert time_to_detect(ev, T0) == 4.0


def test_a_restart_faster_than_its_bound_is_flagged_a_failover_is_not() -> None:
    req = requests_from_availability([0.0] * 2 + [1.0] * 118, per_bin=5)
    req.loc[req["outcome"] == "ok", "agent"] = "us-east-n1-a1"
    bound = hub_detection_bound(1.0, 3)
    kw = {"requests": req, "detection": bound, "restart_delay_s": 5.0}
    failover = analyse_run(RunInput("r6", "centralized", T0, **kw))
    assert failover.metrics["ttr_s"] == pytest.approx(2.0)
    mech = failover.bounds["mechanism"]
    assert mech["kind"] == "failover" and mech["bound_s"] == 0.0 and mech["violated"] is False
    assert failover.bounds["restart_bound_s"] == 7.0 and failover.bounds["violated"] is False
    restarted = events((T0 + 1.5, "agent_restarted", "us-east-n1", "us-east", "us-east-n1-a1", "hub-us-east"))
    m = analyse_run(RunInput("r6", "centralized", T0, events=restarted, **kw))
    mech = m.bounds["mechanism"]
    assert mech["kind"] == "restart" and mech["bound_s"] == 7.0 and mech["violated"] is True
    assert any("beats the restart bound" in n for n in m.notes)
    by_the_lift = events((T0 + 1.5, "agent_restarted", "us-east-n1", "us-east", "us-east-n1-a1", "heal"))
    lifted = analyse_run(RunInput("r6", "centralized", T0, events=by_the_lift, **kw))
    assert lifted.bounds["mechanism"]["kind"] == "failover"


def test_params_change_the_window() -> None:
    req = requests_from_availability(STEP[:70], per_bin=5)
    m = analyse_run(RunInput("r7", "c", T0, requests=req, params=AnalysisParams(window_s=60, baseline_s=10)))
    assert m.metrics["resilience"] == pytest.approx(100 * (1 - 20 / 60))
    assert m.params["window_s"] == 60


def test_bad_inputs_are_named() -> None:
    with pytest.raises(AnalysisError, match="r8"):
        analyse_run(RunInput("r8", "c", T0))
    with pytest.raises(AnalysisError, match="baseline"):
        analyse_run(RunInput("r9", "c", T0, requests=requests_from_availability([1.0], baseline_bins=0)))
    with pytest.raises(AnalysisError):
        AnalysisParams(slo=1.0)


def test_row_order_does_not_matter() -> None:
    req = requests_from_availability([1.0, 0.5, 0.0, None, 0.2] + [1.0] * 30, per_bin=7)
    a = analyse_run(RunInput("r", "c", T0, requests=req)).to_json_dict()
    shuffled = req.sample(frac=1.0, random_state=np.random.default_rng(3).integers(1 << 30))
    b = analyse_run(RunInput("r", "c", T0, requests=shuffled.reset_index(drop=True))).to_json_dict()
    assert a == b
