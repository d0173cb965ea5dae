"""The answer sentence, the Overview matrix, markers, bounds, the event filter, trends on date axes and the lab
map's layout: pure presentation over summaries shaped like docs/results.md."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pandas as pd
import pytest

from presentation import figures, frames
from presentation.answer import answer, matrix_cells, r_band, topology_clause
from presentation.labmap import lab_caption, link_label, region_layout

WINDOW = {"name": "kill", "start": 1000.0, "end": 1020.0, "what": "us-east was dark"}


def metric(median: float | None, low: float | None = None, high: float | None = None, **kw: Any) -> dict[str, Any]:
    return {"n": 1, "median": median, "ci_low": low, "ci_high": high, **kw}


def body(kind: str, runs: int = 1, **medians: float | None) -> dict[str, Any]:
    return {"runs": runs, "runs_used": runs, "recovery": {"kind": kind},
            "metrics": {k: metric(v) for k, v in medians.items()},
            "single_run": {"label": "one run: repeat to confirm"} if runs == 1 else None}


def summary(**bodies: dict[str, Any]) -> dict[str, Any]:
    results = [{"run_id": f"r-{t}", "topology": t, "control": False, "injected_at": 1000.0,
                "fault_windows": [WINDOW], "metrics": {}} for t in bodies]
    return {"summary": bodies, "results": results, "verdicts": [], "not_analysed": []}


HUB_AND_MESH = summary(
    centralized=body("recovered_after_lift", depth=1.0, fault_s=20.0, ttr_after_lift_s=2.0, lost_tasks=864,
                     resilience=63.3),
    decentralized=body("self_healed", depth=0.09, ttr_s=6.0, lost_tasks=0, resilience=98.5),
)


def test_the_answer_says_what_happened_to_each_topology_with_its_numbers() -> None:
    found = answer(HUB_AND_MESH)
    assert found.sentence == ("centralized: full outage for the 20 s us-east was dark, back 2.0 s after the lift, "
                              "864 tasks lost; decentralized: 9 % dip, healed by itself in 6.0 s.")
    assert found.lead == "decentralized held up best (R 98.5 vs centralized 63.3)."
    assert "One run per topology" in found.confidence and not found.decided


def test_clear_verdicts_make_the_answer_sure_and_say_so() -> None:
    s = summary(a=body("self_healed", runs=3, depth=0.2, ttr_s=3.0, resilience=90.0),
                b=body("not_recovered", runs=3, depth=0.5, resilience=40.0))
    s["verdicts"] = [{"metric": "ttr_s", "outcome": "clear", "text": "a recovers by itself faster than b"},
                     {"metric": "depth", "outcome": "no_clear_difference", "text": "no clear difference"}]
    found = answer(s)
    assert found.decided
    assert found.confidence.startswith("Clear at 95 % (intervals do not overlap): a recovers by itself faster than b.")
    assert "Medians of 3 runs per topology." in found.confidence
    assert "b: 50 % dip, not back within the observed window" in found.sentence


@pytest.mark.parametrize("kind,expected", [
    ("no_impact", "no visible impact"), ("no_data", "no data to judge"),
    ("recovered_unattributed", "30 % dip, back after 4.0 s"),
])
def test_clauses_of_the_other_recovery_classes(kind: str, expected: str) -> None:
    s = summary(t=body(kind, depth=0.3, ttr_s=4.0))
    assert topology_clause(s, "t") == expected


def test_no_summary_gives_an_empty_answer_that_says_why() -> None:
    assert answer(None).confidence == "No run was analysed yet."
    assert answer({"summary": {}, "not_analysed": [{"run_id": "x"}]}).confidence == "1 run(s) could not be analysed."


def test_matrix_keeps_the_latest_comparison_per_experiment_and_topology() -> None:
    old = ({"comparison_id": "c-old", "experiment": "node-loss", "created_at": 1.0},
           summary(centralized=body("self_healed", resilience=50.0), hybrid=body("self_healed", resilience=70.0)))
    new = ({"comparison_id": "c-new", "experiment": "node-loss", "created_at": 2.0},
           {"summary": {"centralized": {"runs_used": 3, "recovery": {"kind": "self_healed"}, "metrics": {
               "resilience": metric(96.0, 94.0, 98.0)}}}})
    cells = matrix_cells([old, new]).set_index("topology")
    assert cells.loc["centralized", "comparison_id"] == "c-new"
    assert cells.loc["centralized", "interval"] == "96.0 [94.0, 98.0]"
    assert cells.loc["centralized", "band"] == "good"
    assert cells.loc["hybrid", "comparison_id"] == "c-old" and cells.loc["hybrid", "band"] == "poor"
    assert [r_band(v) for v in (95.0, 80.0, 79.9, None)] == ["good", "fair", "poor", "none"]


def test_markers_and_bounds_come_from_each_fault_run() -> None:
    s = {"results": [
        {"run_id": "r1", "topology": "a", "metrics": {"ttd_s": 1.5, "returned_s": 8.0, "recovery": "self_healed"},
         "bounds": {"detection": {"kind": "swim", "best_s": 1.25, "expected_s": 1.8, "worst_s": 14.5},
                    "mechanism": {"kind": "replacement", "bound_s": 4.25, "measured_s": 8.0, "violated": False}}},
        {"run_id": "r2", "topology": "a", "control": True, "metrics": {"ttd_s": 0.1}},
        {"run_id": "r3", "topology": "b", "metrics": {"ttd_s": None, "returned_s": 0.0, "recovery": "no_impact"}},
    ]}
    marks = frames.markers_frame(s)
    assert marks[["run_id", "kind", "t"]].values.tolist() == [["r1", "detected", 1.5], ["r1", "recovered", 8.0]]
    bounds = frames.bounds_rows(s).set_index("run")
    assert list(bounds.index) == ["r1", "r3"]
    assert bounds.loc["r1", "detection bound (best / expected / worst)"] == "1.2 s / 1.8 s / 14 s (swim)"
    assert bounds.loc["r1", "within bound"] == "yes" and bounds.loc["r3", "within bound"] == "-"


def test_markers_sit_on_their_own_curve() -> None:
    curve = pd.DataFrame({"topology": "a", "run_id": "r1", "t": [-1.0, 0.0, 1.0, 2.0],
                          "availability": [1.0, 0.4, 0.7, 1.0]})
    marks = pd.DataFrame({"run_id": ["r1"], "topology": ["a"], "kind": ["detected"], "t": [1.5]})
    fig = figures.availability_figure(curve, markers=marks)
    detected = next(tr for tr in fig.data if tr.name == "detected (TTD)")
    assert list(detected.y) == [0.7]  # the bin [1, 2) covers t = 1.5


def test_event_filter_matches_text_in_any_column_and_kinds() -> None:
    events = pd.DataFrame({"t": [0.0, 1.0, 2.0], "kind": ["member_dead", "node_killed", "member_dead"],
                           "node": ["us-n1", "eu-n2", "eu-n2"], "by": ["eu-n1", None, "US-N3"]})
    assert list(frames.filter_events(events, "us-n")["t"]) == [0.0, 2.0]  # case-insensitive, any column
    assert list(frames.filter_events(events, "", ["node_killed"])["t"]) == [1.0]
    assert list(frames.filter_events(events, "eu-n2", ["member_dead"])["t"]) == [2.0]
    assert frames.filter_events(events, "[.*").empty  # plain text, not a pattern


def test_trends_are_drawn_on_a_real_date_axis_even_for_one_comparison() -> None:
    trends = pd.DataFrame({"comparison_id": ["c1"], "experiment": ["e"], "topology": ["a"],
                           "created_at": [1.7e9], "resilience": [90.0]})
    fig = figures.trend_figure(trends, "resilience", title="R",
                               flags=pd.DataFrame({"comparison_id": ["c1"], "topology": ["a"]}))
    assert fig.layout.xaxis.type == "date"
    lo, hi = (pd.Timestamp(v) for v in fig.layout.xaxis.range)
    assert (hi - lo) >= pd.Timedelta(hours=23)  # not zoomed into fractions of a millisecond
    assert [tr.name for tr in fig.data] == ["e / a", "regression"]


def test_region_boxes_never_overlap_and_links_are_labelled_per_direction() -> None:
    for n in range(1, 7):
        regions = [f"r{i}" for i in range(n)]
        place = region_layout(regions, {r: 3 + i for i, r in enumerate(regions)})
        for a, b in itertools.combinations(regions, 2):
            (ax, ay, aw, ah), (bx, by, bw, bh) = place[a], place[b]
            assert abs(ax - bx) >= (aw + bw) / 2 or abs(ay - by) >= (ah + bh) / 2, (n, a, b)
    fwd = pd.Series({"src": "a", "dst": "b", "latency_ms": 40.0, "loss": 0.0, "cut": True})
    bwd = pd.Series({"src": "b", "dst": "a", "latency_ms": 90.0, "loss": 0.1, "cut": False})
    assert link_label(fwd, bwd) == ("CUT a→b · 40 ms / 90 ms · 10 % loss", "#c62828")
    assert link_label(bwd, None)[1] == "#ef6c00"
    assert not math.isnan(region_layout(["x"], {"x": 1})["x"][2])


def test_lab_caption_counts_nodes_cuts_and_lossy_links() -> None:
    status = {"regions": ["us", "eu"], "nodes": [{"name": "us-n1", "region": "us", "alive": True},
                                                 {"name": "eu-n1", "region": "eu", "alive": False}],
              "links": [{"src": "us", "dst": "eu", "cut": True}, {"src": "eu", "dst": "us", "loss": 0.2}]}
    assert lab_caption(status) == "1/2 nodes alive · 1 directed link(s) cut · 1 lossy · regions: us, eu"


def test_a_running_runs_fault_is_shaded_from_the_injection_until_it_is_recorded_or_lifted() -> None:
    t0 = 1000.0
    held = frames.timeline_fault_windows([], t0, now=1030.0, injected=True)
    assert held[["start", "end", "what"]].values.tolist() == [[0.0, 30.0, "injected, not lifted yet"]]
    rolled = frames.timeline_fault_windows([{"name": "heal", "type": "rollback", "start": 1012.0, "end": 1013.0}],
                                           t0, now=1030.0, injected=True)
    assert rolled[["start", "end"]].values.tolist() == [[0.0, 12.0]]
    assert frames.timeline_fault_windows([], t0, now=1030.0).empty  # nothing injected: nothing shaded


def test_a_dip_under_one_percent_reads_as_no_visible_impact() -> None:
    s = summary(t=body("self_healed", depth=0.004, ttr_s=0.0))
    assert topology_clause(s, "t") == "no visible impact (under 1 % dip)"
    marks = frames.markers_frame({"results": [{"run_id": "r", "topology": "t", "metrics": {
        "returned_s": 0.0, "recovery": "self_healed"}}]})
    assert marks.empty  # "back to baseline" at the injection itself says nothing
