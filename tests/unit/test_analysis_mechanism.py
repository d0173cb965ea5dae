"""Recovery mechanisms from the event and request logs, each checked against its own bound."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.bounds import hub_detection_bound, swim_detection_bound
from analysis.faults import FaultWindow, classify_recovery
from analysis.mechanism import MechanismBounds, identify_mechanism, mechanism_bound
from analysis.params import AnalysisParams
from analysis.run import RunInput, analyse_run
from analysis.sessions import sessions_lost_bound
from tests.support.synth import T0, executions_for, requests_with_outage

HUB = hub_detection_bound(0.5, 3, 0.25)  # best 1.25 s


def _events(*rows) -> pd.DataFrame:
    cols = ["ts", "kind", "node", "region", "agent", "by", "detail"]
    return pd.DataFrame([dict(zip(cols, r, strict=False)) for r in rows], columns=cols)


def _window(family: str, action: str = "kill_node") -> FaultWindow:
    return FaultWindow("f", action, family, T0, T0 + 20, "lift", ("us-east-n1",), what="x", lift_phrase="y")


def test_hybrid_failover_is_judged_by_the_failover_bound_not_the_restart_bound() -> None:
    """The issue's case: 0 s failover next to a 4.2 s restart minimum, unflagged, because it is a failover."""
    req = requests_with_outage(T0 + 0.01, T0 + 0.05, end=T0 + 40)
    run = analyse_run(RunInput("h", "hybrid", T0, requests=req, detection=HUB, restart_delay_s=3.0,
                               client_timeout_s=3.0, fault_windows=(_window("region", "kill_region"),),
                               params=AnalysisParams(window_s=40)))
    mech = run.bounds["mechanism"]
    assert run.metrics["recovery"] == "self_healed" and run.metrics["ttr_s"] < 0.1
    assert mech["kind"] == "failover" and mech["bound_s"] == 0.0 and mech["violated"] is False
    assert run.bounds["restart_bound_s"] == pytest.approx(4.25) and run.bounds["violated"] is False


def test_a_silent_fault_fails_over_no_sooner_than_the_client_timeout() -> None:
    bound, rule = mechanism_bound("failover", MechanismBounds(client_timeout_s=3.0), {"pause"})
    assert bound == 3.0 and "times out" in rule
    rc = classify_recovery(T0, T0 + 1.0, [_window("pause", "pause_node")], impact=True)
    mech = identify_mechanism(rc, T0, events=None, requests=None, bounds=MechanismBounds(client_timeout_s=3.0))
    assert mech.kind == "failover" and mech.violated is True


def test_replacement_spawned_by_peers_serves_the_recovery() -> None:
    req = requests_with_outage(T0 + 0.01, T0 + 6.0, end=T0 + 40)
    req.loc[req["outcome"] == "ok", "agent"] = "eu-west-n9-a1"
    ev = _events((T0 + 5.5, "node_migrated", "us-east-n1", "eu-west", None, "eu-west-n2",
                  {"replacement": "eu-west-n9"}))
    swim = swim_detection_bound(0.5, 0.25, 2, 9)
    rc = classify_recovery(T0, T0 + 6.0, [_window("node")], impact=True)
    mech = identify_mechanism(rc, T0, events=ev, requests=req,
                              bounds=MechanismBounds(detection=swim, restart_delay_s=3.0))
    assert mech.kind == "replacement" and mech.bound_s == pytest.approx(swim.best_s + 3.0)
    assert mech.violated is False and "eu-west-n9" in mech.evidence
    # the execution log maps agents to nodes when their names do not say it
    req.loc[req["outcome"] == "ok", "agent"] = "agent-7"
    ex = executions_for(req, node="eu-west-n9")
    ex["agent"] = "agent-7"
    mech = identify_mechanism(rc, T0, events=ev, requests=req, executions=ex,
                              bounds=MechanismBounds(detection=swim, restart_delay_s=3.0))
    assert mech.kind == "replacement"


def test_standby_takeover_and_its_failover_delay() -> None:
    ev = _events((T0 + 6.0, "hub_failover", "hub-eu-west", "eu-west", None, "hub-eu-west", {}))
    rc = classify_recovery(T0, T0 + 6.5, [_window("region", "kill_region")], impact=True)
    mech = identify_mechanism(rc, T0, events=ev, requests=None, bounds=MechanismBounds(failover_delay_s=5.0))
    assert mech.kind == "standby_takeover" and mech.bound_s == 5.0 and mech.violated is False


def test_no_bound_check_without_impact_or_after_the_lift() -> None:
    none = identify_mechanism(classify_recovery(T0, T0, [], impact=False), T0, events=None, requests=None)
    assert none.kind == "none" and none.violated is None
    lifted = classify_recovery(T0, T0 + 22, [_window("region", "kill_region")], impact=True)
    mech = identify_mechanism(lifted, T0, events=None, requests=None,
                              bounds=MechanismBounds(detection=HUB, restart_delay_s=3.0))
    assert mech.kind == "lift" and mech.violated is None and mech.measured_s == pytest.approx(2.0)


def test_sessions_lost_against_their_bound() -> None:
    placement = {"s1": ["a", "b"], "s2": ["a", "c"], "s3": ["c", "d"], "s4": ["a"]}
    dead = {"a": T0 + 0.0, "b": T0 + 0.0}
    bound = sessions_lost_bound(placement, dead, {"s1", "s4", "s2", "s3", "unobserved"},
                                last_write={"s2": T0 - 0.1, "s3": T0 - 5.0})
    assert (bound.observed, bound.bound_sessions, bound.lost_sessions) == (4, 2, 4)
    assert bound.bound_share == 0.5 and bound.excess == 2 and bound.flagged
    assert bound.excess_explained == {"replication_lag": 1, "copy_not_found": 1}
    assert "2 in excess (1 replication lag, 1 copy not found)" in bound.text
    fine = sessions_lost_bound(placement, dead, {"s1", "s4"})
    assert fine.excess == 0 and not fine.flagged
