"""Across repeats: bootstrap determinism, verdicts only without overlap, the JSON summary."""

from __future__ import annotations

import json

import pytest

from analysis.compare import bootstrap_median_ci, compare, intervals_overlap
from analysis.run import METRIC_KEYS, RunInput, RunMetrics, analyse_run
from tests.support.synth import T0, requests_from_availability


def fake(topology: str, repeat: int, *, ttr: float | None, loss: float = 1.0, status: str = "completed"):
    metrics = {k: None for k in METRIC_KEYS}
    metrics.update(
        ttr_s=ttr,
        recovered=ttr is not None,
        resilience_loss=loss,
        depth=0.5,
        budget_burn={"rate": 2.0},
        ttd_s=1.0,
    )
    return RunMetrics(
        run_id=f"{topology}-{repeat}",
        topology=topology,
        repeat=repeat,
        status=status,
        source="request_log",
        injected_at=T0,
        request_log=None,
        metrics=metrics,
        bounds={},
        params={},
    )


def verdict(summary, metric):
    return next(v for v in summary.verdicts if v.metric == metric)


def test_bootstrap_is_deterministic_and_order_free() -> None:
    a = bootstrap_median_ci([3.0, 1.0, 2.0, 5.0, 4.0], seed=7)
    assert a == bootstrap_median_ci([5.0, 4.0, 3.0, 2.0, 1.0], seed=7)
    median, low, high = a
    assert median == 3.0 and 1.0 <= low <= median <= high <= 5.0


def test_bootstrap_with_censored_values_keeps_infinity() -> None:
    median, low, high = bootstrap_median_ci([1.0, float("inf"), float("inf")], seed=0)
    assert median == float("inf") and high == float("inf") and low >= 1.0


def test_overlap() -> None:
    assert intervals_overlap((1, 2), (2, 3)) and not intervals_overlap((1, 2), (2.5, 3))


def test_clear_verdict_only_without_overlap() -> None:
    runs = [fake("centralized", i, ttr=20.0 + i) for i in range(4)]
    runs += [fake("decentralized", i, ttr=3.0 + i * 0.5) for i in range(4)]
    s = compare(runs, comparison_id="c1", experiment="kill-node")
    v = verdict(s, "ttr_s")
    assert v.outcome == "clear" and v.better == "decentralized"
    assert v.text == "decentralized recovers by itself faster than centralized"
    assert verdict(s, "resilience_loss").outcome == "no_clear_difference"
    loss = verdict(s, "resilience_loss").text
    assert loss.endswith("no clear difference between centralized and decentralized")


def test_overlapping_intervals_give_no_verdict() -> None:
    runs = [fake("a", i, ttr=t) for i, t in enumerate([1.0, 5.0, 9.0])]
    runs += [fake("b", i, ttr=t) for i, t in enumerate([4.0, 6.0, 10.0])]
    assert verdict(compare(runs, comparison_id="c", experiment="e"), "ttr_s").outcome == "no_clear_difference"


def test_one_repeat_gives_no_verdict_and_says_so() -> None:
    s = compare([fake("a", 0, ttr=1.0), fake("b", 0, ttr=50.0)], comparison_id="c", experiment="e")
    assert all(v.outcome == "insufficient_repeats" for v in s.verdicts if v.metric == "ttr_s")
    assert all(v.better is None for v in s.verdicts)
    assert any("more repeats needed" in n for n in s.notes)
    ttr = s.summary["a"]["metrics"]["ttr_s"]
    assert ttr.median == 1.0 and ttr.low is None and ttr.high is None


def test_censored_ttr_counts_as_slower_than_any_recovery() -> None:
    runs = [fake("hub", i, ttr=None) for i in range(3)] + [fake("mesh", i, ttr=4.0 + i) for i in range(3)]
    s = compare(runs, comparison_id="c", experiment="e")
    v = verdict(s, "ttr_s")
    assert v.outcome == "clear" and v.better == "mesh"
    j = s.to_json_dict()["summary"]["hub"]["metrics"]["ttr_s"]
    assert j == {
        "n": 3,
        "censored": 3,
        "median": None,
        "median_censored": True,
        "ci_low": None,
        "ci_high": None,
        "high_censored": True,
    }


def test_aborted_runs_are_reported_but_not_summarised() -> None:
    runs = [fake("a", i, ttr=1.0) for i in range(2)] + [fake("a", 9, ttr=99.0, status="aborted")]
    s = compare(runs, comparison_id="c", experiment="e")
    assert len(s.results) == 3 and s.summary["a"]["runs_used"] == 2
    assert s.summary["a"]["metrics"]["ttr_s"].median == 1.0


def test_same_runs_same_summary_whatever_the_order() -> None:
    runs = [fake("a", i, ttr=1.0 + i) for i in range(3)] + [fake("b", i, ttr=2.0 * i) for i in range(3)]
    one = compare(runs, comparison_id="c", experiment="e").to_json_dict()
    two = compare(list(reversed(runs)), comparison_id="c", experiment="e").to_json_dict()
    assert one == two


def test_json_summary_shape_from_real_runs() -> None:
    steps = {"centralized": [0.0] * 20, "decentralized": [0.5] * 3}
    runs = []
    for topo, dip in steps.items():
        for rep in range(3):
            req = requests_from_availability(dip + [1.0] * (120 - len(dip)), per_bin=5, sessions=7)
            runs.append(
                analyse_run(
                    RunInput(
                        f"{topo}-{rep}",
                        topo,
                        T0,
                        repeat=rep,
                        requests=req,
                        request_log_path=f"runs/{topo}-{rep}/requests.csv",
                    )
                )
            )
    runs.append(
        analyse_run(
            RunInput(
                "never",
                "centralized",
                T0,
                repeat=3,
                requests=requests_from_availability([0.0] * 120, per_bin=5),
            )
        )
    )
    d = compare(runs, comparison_id="cmp-1", experiment="kill-hub").to_json_dict()
    text = json.dumps(d, allow_nan=False)
    assert json.loads(text) == d
    assert list(d)[:4] == ["schema_version", "comparison_id", "experiment", "params"]
    assert {"results", "summary", "verdicts", "notes"} <= set(d)
    r = d["results"][0]
    assert list(r) == [
        "run_id",
        "topology",
        "repeat",
        "status",
        "control",
        "source",
        "injected_at",
        "request_log",
        "intensity",
        "metrics",
        "recovery",
        "fault_windows",
        "latency",
        "ledger",
        "overload",
        "elasticity",
        "sessions",
        "partial",
        "bounds",
        "params",
        "notes",
    ]
    assert list(r["metrics"]) == list(METRIC_KEYS)
    never = next(x for x in d["results"] if x["run_id"] == "never")
    assert never["metrics"]["ttr_s"] is None and never["metrics"]["recovered"] is False
    assert d["summary"]["centralized"]["metrics"]["ttr_s"]["censored"] == 1
    ttr = next(v for v in d["verdicts"] if v["metric"] == "ttr_s")
    assert ttr["outcome"] == "clear" and ttr["better"] == "decentralized"


@pytest.mark.parametrize("seed", [0, 1])
def test_seed_is_recorded_and_changes_nothing_else(seed) -> None:
    runs = [fake("a", i, ttr=1.0 + i) for i in range(3)]
    assert compare(runs, comparison_id="c", experiment="e", seed=seed).params["seed"] == seed
