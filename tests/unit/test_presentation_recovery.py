"""The recovery class in words, the same in the CLI table, the dashboard's frames and every report format."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pandas as pd

from analysis import AnalysisParams, RunInput, analyse_run, compare, fault_windows
from presentation import figures, frames
from presentation.table import format_summary
from reports import render
from reports.text import junit_cases
from tests.support.synth import T0, activity, requests_with_outage
from tests.unit.test_reports_escaping import hostile_data

TIMELINE = [activity("kill-us-east", "kill_region", T0, arguments={"region": "us-east"}),
            activity("restore-us-east", "restore_region", T0 + 20, kind="rollback", phase="rollback")]
SENTENCE = "did not recover while us-east was dark (20 s); recovered 2."


def home_region_summary() -> dict:
    windows = fault_windows(TIMELINE)
    runs = [analyse_run(RunInput(name, name, T0, requests=requests_with_outage(T0 + 0.01, T0 + back, end=T0 + 60),
                                 fault_windows=windows, client_timeout_s=3.0, params=AnalysisParams(window_s=60)))
            for name, back in (("centralized", 22.0), ("decentralized", 1.2), ("hybrid", 0.3))]
    return compare(runs, comparison_id="cmp-home", experiment="region-loss-home").to_json_dict()


def test_cli_table_says_it_in_words() -> None:
    text = format_summary(home_region_summary())
    assert "centralized (one run: repeat to confirm): " + SENTENCE in text
    assert "decentralized (one run: repeat to confirm): recovered by itself 1.2 s after the injection (failover)" \
        in text
    assert "verdicts: none: run more repeats" in text


def test_frames_carry_the_class_and_the_real_fault_window() -> None:
    summary = home_region_summary()
    table = frames.summary_table(summary).set_index("topology")
    assert table.loc["centralized", "recovery"] == "recovered after the lift (1/1)"
    assert table.loc["hybrid", "recovery"] == "self-healed (1/1)"
    rows = frames.recovery_rows(summary).set_index("topology")
    assert rows.loc["centralized", "in words"].startswith(SENTENCE)
    assert rows.loc["hybrid", "mechanism"] == "failover" and rows.loc["hybrid", "bound"] == "ok"
    windows = frames.fault_windows(summary)
    assert windows[["start", "end"]].drop_duplicates().to_numpy().tolist() == [[0.0, 20.0]]


def test_reports_say_it_and_junit_gates_on_it(tmp_path) -> None:
    data = hostile_data()
    summary = home_region_summary()
    data = type(data)(**{**data.__dict__, "summary": summary,
                         "runs": [{"run_id": r["run_id"], "topology": r["topology"], "repeat": 0,
                                   "status": "completed"} for r in summary["results"]]})
    md = render(data, "md").decode()
    assert "### How each run recovered" in md and "recovered after the lift" in md
    assert "did not recover while us-east was dark (20 s); recovered 2." in md
    html = render(data, "html").decode()
    assert "How each run recovered" in html and "recovered after the lift" in html
    cases = {(c["topology"], c["name"]): c for c in junit_cases(data)}
    assert cases[("centralized", "recovers by itself while the fault is active")]["status"] == "failed"
    assert cases[("centralized", "recovers within the analysis window")]["status"] == "passed"
    assert cases[("hybrid", "recovers by itself while the fault is active")]["status"] == "passed"
    assert cases[("hybrid", "no recovery faster than its mechanism's bound")]["status"] == "passed"
    assert cases[("hybrid", "no acknowledged session write lost")]["status"] == "passed"
    ET.fromstring(render(data, "junit"))


def test_control_curves_are_grey() -> None:
    curves = pd.DataFrame({"t": [0.0, 1.0] * 2, "availability": [1.0, 0.5, 1.0, 1.0], "topology": "hybrid",
                           "run_id": ["r1", "r1", "ctl", "ctl"], "control": [False, False, True, True]})
    fig = figures.availability_figure(curves)
    colours = {t.name: t.line.color for t in fig.data}
    assert colours["hybrid control"] == figures.CONTROL_COLOUR and colours["hybrid"] != figures.CONTROL_COLOUR
