"""Control runs set the noise verdicts must beat; single runs say what they show; partial runs say what they saw."""

from __future__ import annotations

import dataclasses

import pytest

from analysis.compare import SINGLE_RUN_LABEL, compare
from analysis.faults import fault_windows
from analysis.latency import ok_latency_curve
from analysis.params import AnalysisParams
from analysis.run import RunInput, analyse_run
from tests.support.synth import T0, activity, requests_from_availability, requests_with_outage
from tests.unit.test_analysis_compare import fake


def _control(topology: str, repeat: int, ttr: float):
    return dataclasses.replace(fake(topology, repeat, ttr=ttr), run_id=f"{topology}-ctl-{repeat}", control=True)


def _ttr_verdict(summary):
    return next(v for v in summary.verdicts if v.metric == "ttr_s")


def test_a_difference_within_the_control_noise_is_not_a_verdict() -> None:
    runs = [fake("a", i, ttr=1.0 + 0.1 * i) for i in range(3)] + [fake("b", i, ttr=3.0 + 0.1 * i) for i in range(3)]
    assert _ttr_verdict(compare(runs, comparison_id="c", experiment="e")).outcome == "clear"
    noisy = [_control("a", i, ttr) for i, ttr in enumerate([0.0, 5.0])] + [_control("b", 0, 0.0),
                                                                          _control("b", 1, 0.5)]
    s = compare(runs + noisy, comparison_id="c", experiment="e")
    v = _ttr_verdict(s)
    assert v.outcome == "within_control_noise" and v.better is None and not v.decides
    assert v.control_noise == {"a": 5.0, "b": 0.5}
    assert [r.run_id for r in s.results if r.control] == ["a-ctl-0", "a-ctl-1", "b-ctl-0", "b-ctl-1"]
    assert s.summary["a"]["runs"] == 3  # controls are not fault runs
    others = [v for v in s.verdicts if v.metric != "ttr_s"]
    assert others and all(v.control_noise is not None for v in others)  # every verdict carries the noise
    quiet = [_control(t, i, 0.0 + 0.01 * i) for t in ("a", "b") for i in range(2)]
    v = _ttr_verdict(compare(runs + quiet, comparison_id="c", experiment="e"))
    assert v.outcome == "clear" and v.decides and v.better == "a"
    d = compare(runs + quiet, comparison_id="c", experiment="e").to_json_dict()
    assert d["controls"]["a"]["noise"]["ttr_s"]["spread"] == pytest.approx(0.01)
    effect = next(e for e in d["control_effects"] if e["topology"] == "b" and e["metric"] == "ttr_s")
    assert effect["outcome"] == "beyond_control_noise"


def test_one_run_states_what_it_shows_with_a_per_request_interval() -> None:
    timeline = [activity("kill-us-east", "kill_region", T0, arguments={"region": "us-east"}),
                activity("restore", "restore_region", T0 + 20, kind="rollback", phase="rollback")]
    req = requests_with_outage(T0 + 0.01, T0 + 22, end=T0 + 60)
    run = analyse_run(RunInput("c0", "centralized", T0, requests=req, fault_windows=fault_windows(timeline),
                               params=AnalysisParams(window_s=60)))
    s = compare([run], comparison_id="c", experiment="e").to_json_dict()
    single = s["summary"]["centralized"]["single_run"]
    assert single["label"] == SINGLE_RUN_LABEL == "one run: repeat to confirm"
    (stmt,) = single["statements"]
    assert stmt["text"].startswith("did not recover while us-east was dark (20 s); recovered 2.")
    assert "availability during the fault 0.0 % (95 % interval 0.0-0.5 %" in stmt["text"]
    assert s["summary"]["centralized"]["recovery"]["kind"] == "recovered_after_lift"


def test_an_interrupted_run_gets_figures_only_over_the_data_it_has() -> None:
    """Killed mid-fault: no R 100, no TTR 0, and the time it covers said."""
    req = requests_from_availability([0.0] * 10, per_bin=10)  # dark, then the runner died
    m = analyse_run(RunInput("p", "centralized", T0, status="interrupted", requests=req,
                             params=AnalysisParams(window_s=60)))
    assert m.partial == {"partial": True, "covers_s": 10.0, "window_s": 60, "reason": "run interrupted"}
    assert m.metrics["resilience"] is None and m.metrics["ttr_s"] is None and m.metrics["recovered"] is False
    assert any("partial run" in n and "10 s of the 60 s" in n for n in m.notes)
    nothing = analyse_run(RunInput("q", "centralized", T0, status="interrupted",
                                   requests=requests_from_availability([], per_bin=10)))
    assert nothing.metrics["recovery"] == "no_data" and nothing.metrics["resilience"] is None
    assert nothing.metrics["ttr_s"] is None


def test_service_latency_counts_successes_only() -> None:
    """A dark hub refuses in 2 ms: percentiles over every outcome would read faster than normal."""
    req = requests_with_outage(T0 + 0.01, T0 + 20, end=T0 + 60, ok_latency_s=0.05, fail_latency_s=0.002)
    m = analyse_run(RunInput("c", "centralized", T0, requests=req, params=AnalysisParams(window_s=60)))
    assert m.metrics["p99_inflation"] is None and m.metrics["p99_ok_s"] is None
    assert "no successful requests" in m.latency["inflation_reason"]
    assert m.metrics["time_to_fail_p99_s"] == pytest.approx(0.002)
    curve = ok_latency_curve(req, T0)
    dark = curve[(curve["t"] >= 1) & (curve["t"] < 19)]
    assert dark["p99"].isna().all() and (dark["n_ok"] == 0).all() and (dark["n_failed"] > 0).all()
    lit = curve[curve["t"] >= 25]
    assert not lit.empty and lit["p99"].to_numpy() == pytest.approx([0.05] * len(lit))
