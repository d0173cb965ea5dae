"""Fault windows from recorded timelines, and recovery classified against them (answers known by hand)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.faults import (
    FaultWindow,
    active_seconds,
    classify_recovery,
    fault_windows,
    recovery_text,
    union,
    windows_from_dicts,
)
from analysis.params import AnalysisParams
from analysis.run import RunInput, analyse_run
from tests.support.synth import T0, activity, requests_with_outage

HOME_LOSS = [
    {"name": "steady", "type": "hypothesis", "start": T0 - 10, "end": T0 - 9, "status": "met", "detail": {}},
    activity("kill-us-east", "kill_region", T0, arguments={"region": "us-east"},
             output={"regions": ["us-east"], "killed": ["hub-us-east"]}),
    activity("availability-during-fault", None, T0 + 20.1, kind="probe"),
    activity("restore-us-east", "restore_region", T0 + 20.4, kind="rollback", phase="rollback",
             arguments={"region": "us-east"}),
    activity("heal-the-lab", "heal", T0 + 21.0, kind="rollback", phase="rollback"),
]


def test_region_loss_window_runs_from_injection_to_the_restore() -> None:
    (w,) = fault_windows(HOME_LOSS)
    assert (w.start, w.end, w.lifted_by, w.family) == (T0, T0 + 20.4, "restore-us-east", "region")
    assert w.targets == ("us-east",) and w.what == "us-east was dark" and w.lift_phrase == "the restore began"
    assert windows_from_dicts([w.to_dict()]) == (w,)


def test_several_faults_are_each_kept_and_their_union_taken() -> None:
    timeline = [
        activity("slow", "add_latency", T0, arguments={"src": "*", "dst": "*", "latency_ms": 150}),
        activity("lossy", "add_loss", T0 + 5, arguments={"src": "*", "dst": "*", "loss": 0.05}),
        activity("heal-links", "heal_links", T0 + 25, kind="rollback", phase="rollback"),
    ]
    ws = fault_windows(timeline)
    assert [(w.name, w.start, w.end) for w in ws] == [("slow", T0, T0 + 25), ("lossy", T0 + 5, T0 + 25)]
    assert ws[0].what == "the links were slow (+150 ms)" and ws[1].what == "the links dropped 5 % of requests"
    assert union(ws) == [(T0, T0 + 25)] and active_seconds(ws) == 25.0


def test_timed_action_ends_its_own_window_and_other_modules_are_not_faults() -> None:
    timeline = [
        activity("crash-loop", "kill_agent", T0, T0 + 18.0, arguments={"times": 4},
                 output={"agents": ["us-east-n2-a1"]}),
        {"name": "custom", "type": "action", "start": T0 + 1, "end": T0 + 2, "status": "succeeded",
         "detail": {"func": "mymodule.break_it"}},
        activity("heal", "heal", T0 + 30, kind="rollback", phase="rollback"),
    ]
    (w,) = fault_windows(timeline)
    assert w.timed and (w.start, w.end) == (T0, T0 + 18.0) and w.what == "us-east-n2-a1 was crash-looping"
    assert w.lift_phrase == "the kill agent ended"


def test_a_lift_only_ends_windows_it_covers_and_an_unlifted_fault_stays_open() -> None:
    timeline = [
        activity("freeze", "pause_node", T0, output={"paused": ["eu-west-n1"]}),
        activity("kill", "kill_node", T0 + 1, output={"killed": ["us-east-n2"]}),
        activity("resume", "resume_node", T0 + 10, kind="rollback", phase="rollback",
                 output={"resumed": ["eu-west-n1"]}),
    ]
    pause, kill = fault_windows(timeline)
    assert pause.end == T0 + 10 and kill.end is None
    assert active_seconds([kill]) is None and active_seconds([kill], until=T0 + 31) == 30.0


def test_restore_of_another_region_does_not_lift() -> None:
    timeline = [activity("kill", "kill_region", T0, arguments={"region": "ap-south"}),
                activity("restore", "restore_region", T0 + 5, arguments={"region": "us-east"})]
    (w,) = fault_windows(timeline)
    assert w.end is None


def _w(start: float, end: float | None) -> FaultWindow:
    return FaultWindow("f", "kill_region", "region", start, end, "lift" if end else None, ("us-east",),
                       what="us-east was dark", lift_phrase="the restore began")


@pytest.mark.parametrize(("t1", "kind", "ttr", "after"), [
    (T0 + 3.0, "self_healed", 3.0, None),
    (T0 + 22.4, "recovered_after_lift", None, 2.0),
    (None, "not_recovered", None, None),
])
def test_classification(t1, kind, ttr, after) -> None:
    rc = classify_recovery(T0, t1, [_w(T0, T0 + 20.4)], impact=True)
    assert rc.kind == kind and rc.ttr_s == ttr and rc.fault_s == pytest.approx(20.4)
    assert rc.ttr_after_lift_s == (None if after is None else pytest.approx(after))


def test_no_impact_no_data_and_no_window() -> None:
    absorbed = classify_recovery(T0, T0, [_w(T0, T0 + 5)], impact=False)
    assert (absorbed.kind, absorbed.ttr_s, absorbed.impact) == ("self_healed", 0.0, False)
    assert recovery_text(absorbed, mechanism="failover") == (
        "absorbed the fault (failover): availability never left its baseline while us-east was dark (5.0 s)")
    assert classify_recovery(T0, T0, [], impact=False).kind == "no_impact"  # nothing was broken: a control
    assert classify_recovery(T0, None, [_w(T0, T0 + 5)], impact=True, has_data=False).kind == "no_data"
    rc = classify_recovery(T0, T0 + 7, None, impact=True)  # no window recorded at all
    assert rc.kind == "recovered_unattributed" and rc.returned_s == 7 and rc.ttr_s is None
    noise = classify_recovery(T0, T0 + 7, [], impact=True)  # recorded: nothing injected (a control run)
    assert noise.kind == "self_healed" and noise.ttr_s == 7
    assert recovery_text(noise) == "no fault injected; a dip recovered by itself 7.0 s after t0"


def test_a_recovery_in_the_gap_between_two_faults_is_after_the_first_lift() -> None:
    rc = classify_recovery(T0, T0 + 12, [_w(T0, T0 + 10), _w(T0 + 30, T0 + 40)], impact=True)
    assert rc.kind == "recovered_after_lift" and rc.lift_at == T0 + 10 and rc.ttr_after_lift_s == 2


def test_the_sentence_says_what_happened() -> None:
    windows = fault_windows(HOME_LOSS)
    after = classify_recovery(T0, T0 + 22.4, windows, impact=True)
    assert recovery_text(after) == ("did not recover while us-east was dark (20 s); recovered 2.0 s after the "
                                    "restore began")
    healed = classify_recovery(T0, T0 + 1.5, windows, impact=True)
    assert recovery_text(healed, mechanism="failover") == (
        "recovered by itself 1.5 s after the injection (failover), while us-east was dark (20 s)")
    never = classify_recovery(T0, None, windows, impact=True)
    assert recovery_text(never, window_s=45) == ("did not recover while us-east was dark (20 s), nor after the "
                                                 "lift within the 45 s window")


@settings(max_examples=80, deadline=None)
@given(spans=st.lists(st.tuples(st.floats(0, 50), st.floats(0.1, 30)), min_size=1, max_size=4),
       back=st.one_of(st.none(), st.floats(0, 100)))
def test_classification_properties(spans, back) -> None:
    windows = [_w(T0 + s, T0 + s + d) for s, d in spans]
    t0 = min(w.start for w in windows)
    t1 = None if back is None else t0 + back
    rc = classify_recovery(t0, t1, windows, impact=True)
    merged = union(windows)
    inside = t1 is not None and any(s <= t1 < e for s, e in merged)
    assert (rc.kind == "self_healed") == inside
    if rc.kind == "recovered_after_lift":
        assert rc.ttr_after_lift_s >= 0 and rc.lift_at <= t1 and rc.ttr_s is None
    assert rc.fault_s == pytest.approx(sum(e - s for s, e in merged), abs=1e-6)
    assert not math.isinf(rc.fault_s)


def test_home_region_loss_end_to_end_on_a_synthetic_log() -> None:
    """The issue's case: dark for the fault, back 2 s after the restore: not self-healed, whatever the TTR."""
    windows = fault_windows(HOME_LOSS)
    dark = requests_with_outage(T0 + 0.01, T0 + 22.4, end=T0 + 60)
    central = analyse_run(RunInput("c", "centralized", T0, requests=dark, fault_windows=windows,
                                   params=AnalysisParams(window_s=60)))
    m = central.metrics
    assert m["recovery"] == "recovered_after_lift" and m["recovered"] is False and m["ttr_s"] is None
    assert m["ttr_after_lift_s"] == pytest.approx(2.0, abs=0.1) and m["returned_s"] == pytest.approx(22.4, abs=0.1)
    assert m["availability_during_fault"] == 0.0
    assert central.bounds["mechanism"]["kind"] == "lift" and central.bounds["mechanism"]["violated"] is None
    assert central.recovery["text"].startswith("did not recover while us-east was dark (20 s); recovered 2.")
    blip = requests_with_outage(T0 + 0.01, T0 + 0.8, end=T0 + 60)
    mesh = analyse_run(RunInput("d", "decentralized", T0, requests=blip, fault_windows=windows,
                                params=AnalysisParams(window_s=60)))
    assert mesh.metrics["recovery"] == "self_healed" and mesh.metrics["ttr_s"] == pytest.approx(0.8, abs=0.1)
    assert mesh.bounds["mechanism"]["kind"] == "failover" and mesh.bounds["mechanism"]["violated"] is False


def test_a_fault_absorbed_by_client_failover_is_self_healed_with_no_bound_check() -> None:
    """Hybrid losing its home region: clients fail over on the refused connection, no request fails."""
    req = requests_with_outage(T0 + 5, T0 + 5, end=T0 + 60)  # an empty outage: nothing fails
    req.loc[(req["end"] >= T0) & (req["end"] < T0 + 20) & (req.index % 3 == 0), "attempts"] = 2
    run = analyse_run(RunInput("h", "hybrid", T0, requests=req, fault_windows=fault_windows(HOME_LOSS),
                               params=AnalysisParams(window_s=60)))
    assert run.metrics["recovery"] == "self_healed" and run.metrics["ttr_s"] == 0.0 and run.metrics["recovered"]
    mech = run.bounds["mechanism"]
    assert mech["kind"] == "failover" and mech["violated"] is None and run.bounds["violated"] is False
    assert run.recovery["text"].startswith("absorbed the fault (failover): availability never left its baseline")


def test_a_slow_lift_does_not_censor_a_recovery_the_run_observed() -> None:
    """The comparison's window T (36 s, the fastest topology's) is shorter than this run's observation (45 s):
    back at +29.5 s after a restore that took 8 s, held for W: recovered after the lift, R still over T."""
    windows = fault_windows(HOME_LOSS)
    req = requests_with_outage(T0 + 0.01, T0 + 29.5, end=T0 + 45)
    short = analyse_run(RunInput("c", "centralized", T0, requests=req, fault_windows=windows,
                                 params=AnalysisParams(window_s=36)))
    assert short.metrics["recovery"] == "not_recovered"  # T alone is too short to see W after the return
    seen = analyse_run(RunInput("c", "centralized", T0, requests=req, fault_windows=windows, observed_s=45,
                                params=AnalysisParams(window_s=36)))
    m = seen.metrics
    assert m["recovery"] == "recovered_after_lift" and m["ttr_after_lift_s"] == pytest.approx(9.1, abs=0.1)
    assert m["resilience"] == pytest.approx(100 * (1 - 29.5 / 36), abs=0.5) and not seen.partial["partial"]
    assert m["resilience"] == pytest.approx(short.metrics["resilience"], abs=0.5)


def test_memory_lost_until_the_lift_has_settled_is_the_faults_doing() -> None:
    """A restore that takes 30 s on a busy machine: a holder restarted at +40 s starts empty; losses up to then
    are the fault's, not a defect."""
    import pandas as pd

    from analysis.run import _loss_spans

    events = pd.DataFrame([
        {"ts": T0 + 38.0, "kind": "node_restarted", "node": "us-east-hub", "by": "restore"},
        {"ts": T0 + 40.0, "kind": "region_restored", "node": None, "by": None},
        {"ts": T0 + 45.0, "kind": "node_restarted", "node": "us-east-n1", "by": "us-east-hub"},  # the deployment's
    ])
    windows = fault_windows(HOME_LOSS)
    assert _loss_spans(windows, events, T0 + 60, (T0, T0 + 30)) == [(T0, T0 + 40.0)]
    assert _loss_spans(windows, None, T0 + 60, (T0, T0 + 30)) == [(T0, T0 + 20.4)]
    assert _loss_spans(None, events, T0 + 60, (T0, T0 + 30)) == [(T0, T0 + 30)]


def test_an_injection_that_reported_a_failure_is_settled_by_the_event_log() -> None:
    """On a busy machine the control API times out, the supervisor kills the region anyway, late."""
    from analysis.faults import confirmed_by_events

    timeline = [activity("kill-us-east", "kill_region", T0, T0 + 15.3, status="failed",
                         arguments={"region": "us-east"}),
                activity("restore", "restore_region", T0 + 27.6, kind="rollback", phase="rollback")]
    (w,) = fault_windows(timeline)
    assert w.unconfirmed and windows_from_dicts([w.to_dict()]) == (w,)
    (late,) = confirmed_by_events([w], [{"ts": T0 + 9.0, "kind": "node_killed"},
                                        {"ts": T0 + 9.5, "kind": "region_killed"}])
    assert (late.start, late.end, late.unconfirmed) == (T0 + 9.0, T0 + 27.6, False)
    assert confirmed_by_events([w], [{"ts": T0 + 40.0, "kind": "node_killed"}]) == ()  # after the lift: none
    assert confirmed_by_events([late], []) == (late,)


def test_an_argument_journalled_unsubstituted_reads_as_words_not_a_crash() -> None:
    """A journal from before arguments were substituted keeps ``${key}``: the window is still drawn and said."""
    timeline = [
        activity("surge", "surge_load", T0, arguments={"factor": "${aftershock_load_factor}"}),
        activity("slow", "add_latency", T0 + 1, arguments={"src": "*", "dst": "*", "latency_ms": "${ms}"}),
        activity("surge-70", "surge_load", T0 + 2, arguments={"factor": 10.4}),
        activity("heal", "heal", T0 + 30, kind="rollback", phase="rollback"),
    ]
    assert [w.what for w in fault_windows(timeline)] == [
        "the load surged", "the links were slow", "the clients asked 10.4x the load"]
