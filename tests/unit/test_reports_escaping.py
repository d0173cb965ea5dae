"""Hostile user strings (experiment, topology, activity names) in every report format, without a lab."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

import pandas as pd
import pytest

from reports import render
from reports.data import ReportData, experiment_info
from reports.text import md_escape

HOSTILE = ['<script>alert(1)</script>', '"quotes"', "]]>", "a|b", "line\nbreak", "${x}", "ünï ✓ 🙂", "`tick`",
           "<img src=x onerror=alert(1)>", "http://evil.example/x"]
TOPO = "topo " + " ".join(HOSTILE)


def hostile_data() -> ReportData:
    exp = {"title": "title " + " ".join(HOSTILE), "description": "desc " + " ".join(HOSTILE),
           "steady-state-hypothesis": {"probes": [{"name": "probe " + HOSTILE[0], "tolerance": True}]},
           "method": [{"type": "action", "name": "act " + " ".join(HOSTILE),
                       "provider": {"module": "chaos.actions", "func": "kill_node", "arguments": {"x": HOSTILE[0]}}}]}
    info = experiment_info(exp)
    metrics = {"resilience": 50.0, "ttr_s": None, "recovered": False, "ttd_s": 1.0,
               "budget_burn": {"share_consumed": 0.1}}
    summary = {"schema_version": 1, "comparison_id": "c-1", "experiment": "exp " + HOSTILE[0],
               "results": [{"run_id": "r-1", "topology": TOPO, "status": "completed", "metrics": metrics,
                            "bounds": {"detection": {"kind": "hub", "best_s": 1.0, "worst_s": 2.0}}}],
               "summary": {TOPO: {"runs": 1, "runs_used": 1, "metrics": {"resilience": {"n": 1, "median": 50.0}}}},
               "verdicts": [{"metric": "ttr_s", "outcome": "clear", "text": TOPO + " recovers faster"}],
               "notes": ["note " + HOSTILE[0]], "not_analysed": []}
    curve = pd.DataFrame({"t": [-1.0, 0.0, 1.0], "availability": [1.0, 0.5, 1.0], "ok_per_s": [10.0, 5, 10],
                          "failed_per_s": [0.0, 5, 0], "total": [10.0, 10, 10], "topology": TOPO, "run_id": "r-1"})
    latency = pd.DataFrame({"t": [0.0], "p50": [0.1], "p90": [0.2], "p99": [0.3], "topology": TOPO, "run_id": "r-1"})
    timeline = pd.DataFrame([{"name": "act " + HOSTILE[0], "type": "action", "status": "ok", "start": 0.0,
                              "end": 0.5}])
    return ReportData(kind="comparison", id="c-1", experiment="exp " + HOSTILE[0], title=info["title"],
                      description=info["description"], steps=info["steps"], hypothesis=info["hypothesis"],
                      slo={"min_resilience": 90}, summary=summary,
                      runs=[{"run_id": "r-1", "topology": TOPO, "repeat": 0, "status": "completed"}],
                      availability=curve, latency=latency, timelines={"r-1": timeline},
                      regressions=[{"topology": TOPO, "metric": "resilience", "message": "regressed " + HOSTILE[0]}])


def test_html_escapes_everything_and_links_nowhere() -> None:
    page = render(hostile_data(), "html").decode()
    body = page.split("</head>", 1)[1]
    for raw in ("<script>alert(1)</script>", "<img src=x", "]]>"):
        assert raw not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body and "&#34;quotes&#34;" in body
    assert not re.search(r"""(?:src|href)\s*=\s*["'`]?\s*(?:https?:)?//""", page, re.I)
    assert "</script><" not in body.replace("</script><script", "")  # no script broken out of by user text


def test_markdown_escapes_tables_code_and_html() -> None:
    md = render(hostile_data(), "md").decode()
    for raw in ("<script>", "<img", "`tick`", "a|b"):
        assert raw not in md
    table_rows = [line for line in md.splitlines() if line.startswith("| topo")]
    assert table_rows and all(line.count(" | ") == table_rows[0].count(" | ") for line in table_rows)
    assert md_escape("a\nb|c") == "a b\\|c"


def test_junit_is_valid_xml_and_round_trips_hostile_names() -> None:
    xml = render(hostile_data(), "junit")
    root = ET.fromstring(xml)
    suite = root.find("testsuite")
    assert suite is not None and TOPO.replace("\n", " ") in suite.get("name").replace("\n", " ")
    failures = [f.get("message") for f in root.iter("failure")]
    assert any("resilience median 50.0 < 90" in m for m in failures)
    assert any("regressed <script>" in m for m in failures)
    assert b"<script>" not in xml


def test_json_keeps_strings_exact_and_valid() -> None:
    doc = json.loads(render(hostile_data(), "json"))
    assert doc["results"][0]["topology"] == TOPO and doc["regressions"][0]["message"].endswith(HOSTILE[0])


@pytest.mark.parametrize("fmt", ["docx", ""])
def test_unknown_format_is_a_report_error(fmt: str) -> None:
    from core.errors import ReportError

    with pytest.raises(ReportError):
        render(hostile_data(), fmt)
