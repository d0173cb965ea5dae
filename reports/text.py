"""The text formats: JSON (the analysis summary), Markdown (for pull requests) and JUnit XML (for CI gates).

Every user string is escaped for its format: Markdown tables get ``|``, backticks, ``<``, ``>``, ``&`` and
newlines neutralised; XML goes through ElementTree (attributes and text escaped, characters XML cannot
carry removed).
"""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from typing import Any

from presentation import axes, frames
from presentation.text import MECHANISM_WORDS, recovery_words
from reports.data import ReportData

__all__ = ["to_json", "to_markdown", "to_junit", "md_escape", "junit_cases", "bounds_rows"]

_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_MD_SPECIAL = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "|": "\\|", "`": "\\`", "\\": "\\\\", "*": "\\*", "_": "\\_",
               "[": "\\[", "]": "\\]", "#": "\\#", "$": "\\$"}


def md_escape(value: object) -> str:
    """One line of Markdown-safe text: no table breaks, no code spans, no raw HTML."""
    text = " ".join(str(value).split())
    return "".join(_MD_SPECIAL.get(ch, ch) for ch in text)


def _xml(value: object) -> str:
    return _XML_BAD.sub("", str(value))


def to_json(data: ReportData) -> bytes:
    """The JSON summary of docs/results.md (plus ``kind``, ``meta``, ``not_analysed``, ``regressions``)."""
    doc = dict(data.summary)
    doc["regressions"] = data.regressions
    return (json.dumps(doc, indent=2, allow_nan=False, ensure_ascii=False) + "\n").encode("utf-8")


def bounds_rows(data: ReportData) -> list[dict[str, Any]]:
    """Per analysed run: how it recovered and the bound of that mechanism, beside the measured TTD/TTR."""
    rows = []
    for r in data.summary.get("results") or []:
        b, m = r.get("bounds") or {}, r.get("metrics") or {}
        det, mech = b.get("detection") or {}, b.get("mechanism") or {}
        rows.append({"run": r.get("run_id"), "topology": r.get("topology"),
                     "recovery": recovery_words(m.get("recovery")),
                     "mechanism": MECHANISM_WORDS.get(mech.get("kind"), "-"),
                     "bound s": _num(mech.get("bound_s"), 2), "rule": mech.get("rule") or "-",
                     "detection": det.get("kind") or "-",
                     "detect best..worst s": (f"{det['best_s']:.1f}..{det['worst_s']:.1f}"
                                              if det.get("best_s") is not None and det.get("worst_s") is not None
                                              else "-"),
                     "TTD s": _num(m.get("ttd_s")),
                     "TTR s": _num(m.get("ttr_s")) if m.get("recovered") is not False else
                     recovery_words(m.get("recovery")),
                     "violated": "yes" if mech.get("violated") else ""})
    return rows


def _num(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{float(value):.{digits}f}"


def _md_table(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return ["_none_"]
    cols = list(rows[0])
    out = ["| " + " | ".join(md_escape(c) for c in cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(md_escape(row.get(c, "")) for c in cols) + " |" for row in rows]
    return out


def to_markdown(data: ReportData) -> bytes:
    """Summary table, verdicts, regressions and bounds: what a pull request comment needs."""
    summary = data.summary
    lines = [f"## Aftershock {data.kind} {md_escape(data.id)}: {md_escape(data.title)}", "",
             f"Experiment: {md_escape(data.experiment)}", ""]
    table = frames.summary_table(summary)
    lines += ["### Summary (median [95% interval])", "", *_md_table(table.to_dict("records")), ""]
    lines += ["### How each run recovered", ""]
    lines += _md_table([{k: v for k, v in row.items() if k != "control"} | {"control": "yes" if row["control"]
                        else ""} for row in frames.recovery_rows(summary).to_dict("records")])
    lines.append("")
    for topo, body in sorted((summary.get("summary") or {}).items()):
        single = body.get("single_run") or {}
        for stmt in single.get("statements") or []:
            lines.append(f"- {md_escape(topo)} ({md_escape(single.get('label'))}): {md_escape(stmt.get('text'))}")
    verdicts = summary.get("verdicts") or []
    clear = [v for v in verdicts if v.get("outcome") == "clear"]
    lines += ["", "### Verdicts", ""]
    if clear:
        lines += [f"- {md_escape(v.get('text'))}" for v in clear]
        if len(verdicts) > len(clear):
            lines.append(f"- ({len(verdicts) - len(clear)} other metrics show no clear difference)")
    elif verdicts:
        lines.append("- no clear difference (or too few repeats: run with `--repeat 3` or more)")
    else:
        lines.append("- one topology only: nothing to compare")
    lines.append("")
    if data.regressions:
        lines += ["### Regressions", ""] + [f"- **{md_escape(f.get('message'))}**" for f in data.regressions] + [""]
    lines += ["### Measured against the bound of each recovery mechanism", "", *_md_table(bounds_rows(data)), ""]
    ledger = frames.ledger_rows(summary)
    if not ledger.empty:
        lines += ["### Task ledger (client's request log joined with the agents' execution log)", "",
                  *_md_table(ledger.to_dict("records")), ""]
    overload = frames.overload_rows(summary)
    if not overload.empty:
        lines += ["### Overload: what each topology shed, queued or scaled, and when", "",
                  *_md_table(overload.fillna("-").to_dict("records")), ""]
    cost = frames.cost_rows(summary)
    if not cost.empty:
        lines += ["### Cost: provisioned against used (agent-hours per 1,000 successful tasks at 1 per agent-hour)",
                  "", *_md_table(cost.fillna("-").to_dict("records")), ""]
    lines += _axis_markdown(summary)
    for note in summary.get("notes") or []:
        lines.append(f"> {md_escape(note)}")
    for skipped in summary.get("not_analysed") or []:
        lines.append(f"> {md_escape(skipped.get('run_id'))} not analysed: {md_escape(skipped.get('error'))}")
    return ("\n".join(lines).rstrip() + "\n").encode("utf-8")


def _axis_markdown(summary: dict[str, Any]) -> list[str]:
    """A sweep over fleet size or provisioned capacity: the answer per topology, then the table."""
    lines: list[str] = []
    scale = axes.scale_rows(summary)
    if not scale.empty:
        lines += ["### Scale: stronger as it scales?", ""]
        lines += [f"- {md_escape(line)}" for line in axes.scale_lines(summary)]
        lines += ["", f"_{md_escape(axes.SCALE_CAPTION)}_", "", *_md_table(scale.fillna("-").to_dict("records")), ""]
    head = axes.headroom_rows(summary)
    if not head.empty:
        lines += ["### Headroom: what resilience costs", ""]
        lines += [f"- {md_escape(line)}" for line in axes.headroom_lines(summary)]
        lines += ["", f"_{md_escape(axes.HEADROOM_CAPTION)}_", "", *_md_table(head.fillna("-").to_dict("records")), ""]
    return lines


def _tolerance_text(tolerance: Any) -> str:
    if isinstance(tolerance, dict) and tolerance.get("type") == "range":
        return f"in {tolerance.get('range')}"
    return f"== {json.dumps(tolerance, default=str)}"


def _probe_results(journal: dict[str, Any], probe: str) -> list[tuple[bool | None, Any]]:
    out = []
    for phase in ("before", "after"):
        block = ((journal.get("steady_states") or {}).get(phase)) or {}
        for p in block.get("probes") or [] if isinstance(block, dict) else []:
            if (p.get("activity") or {}).get("name") == probe:
                out.append((p.get("tolerance_met"), p.get("output")))
    return out


def junit_cases(data: ReportData, min_resilience: float | None = None) -> list[dict[str, Any]]:
    """One case per topology and threshold: ``{topology, name, status (passed/failed/skipped), message}``."""
    slo = dict(data.slo)
    if min_resilience is not None:
        slo["min_resilience"] = min_resilience
    cases = []
    results = data.summary.get("results") or []
    for topo in sorted({str(r.get("topology")) for r in data.runs}):
        runs = [r for r in data.runs if str(r.get("topology")) == topo]
        mine = [r for r in results if str(r.get("topology")) == topo]
        for probe in data.hypothesis:
            outputs = [o for r in runs for o in _probe_results(data.journals.get(str(r["run_id"])) or {},
                                                                probe["name"])]
            name = f"steady state {probe['name']} {_tolerance_text(probe['tolerance'])}"
            if not outputs:
                cases.append({"topology": topo, "name": name, "status": "skipped", "message": "no journal recorded"})
                continue
            bad = [o for ok, o in outputs if ok is False]
            cases.append({"topology": topo, "name": name, "status": "failed" if bad else "passed",
                          "message": f"measured {bad[0]!r}, tolerance {_tolerance_text(probe['tolerance'])}"
                          if bad else ""})
        metrics = ((data.summary.get("summary") or {}).get(topo) or {}).get("metrics") or {}
        if slo.get("min_resilience") is not None:
            threshold = float(slo["min_resilience"])
            median = (metrics.get("resilience") or {}).get("median")
            name = f"resilience >= {threshold:g}"
            if median is None:
                cases.append({"topology": topo, "name": name, "status": "failed", "message": "resilience not measured"})
            else:
                ok = median >= threshold
                cases.append({"topology": topo, "name": name, "status": "passed" if ok else "failed",
                              "message": "" if ok else f"resilience median {median:.1f} < {threshold:g}"})
        if slo.get("max_ttr_s") is not None:
            limit = float(slo["max_ttr_s"])
            ttr = metrics.get("ttr_s") or {}
            value = math.inf if ttr.get("median_censored") else ttr.get("median")
            name = f"TTR <= {limit:g} s"
            ok = value is not None and value <= limit
            cases.append({"topology": topo, "name": name, "status": "passed" if ok else "failed",
                          "message": "" if ok else f"TTR median {'not recovered' if value == math.inf else value}"
                                                    f" > {limit:g} s"})
        faulty = [r for r in mine if not r.get("control")]
        cases += _recovery_cases(topo, faulty)
        flags = [f for f in data.regressions if str(f.get("topology")) == topo]
        if data.kind == "comparison":
            cases.append({"topology": topo, "name": "no regression against previous scheduled runs",
                          "status": "failed" if flags else "passed",
                          "message": "; ".join(str(f.get("message")) for f in flags)})
    return cases


def _recovery_cases(topo: str, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recovery within the window, self-healing while the fault is active, no bound beaten, no write lost."""
    def case(name: str, bad: list[str], what: str, applicable: list[dict[str, Any]]) -> dict[str, Any]:
        status = "failed" if bad else ("passed" if applicable else "skipped")
        message = f"{what}: {', '.join(bad)}" if bad else ("" if applicable else "no analysed run")
        return {"topology": topo, "name": name, "status": status, "message": message}

    def kind(r: dict[str, Any]) -> str:
        return str((r.get("metrics") or {}).get("recovery") or "")

    never = [str(r.get("run_id")) for r in runs if kind(r) in ("not_recovered", "no_data")]
    lifted = [str(r.get("run_id")) for r in runs if kind(r) == "recovered_after_lift"]
    beaten = [str(r.get("run_id")) for r in runs if ((r.get("bounds") or {}).get("mechanism") or {}).get("violated")]
    with_ledger = [r for r in runs if (r.get("ledger") or {}).get("properties", {}).get(
        "no_acknowledged_write_lost") is not None]
    lost = [str(r.get("run_id")) for r in with_ledger
            if not (r.get("ledger") or {})["properties"]["no_acknowledged_write_lost"]]
    return [
        case("recovers within the analysis window", never, "not recovered", runs),
        case("recovers by itself while the fault is active", lifted, "recovered only after the fault was lifted",
             runs),
        case("no recovery faster than its mechanism's bound", beaten, "bound beaten (check clocks)", runs),
        case("no acknowledged session write lost", lost, "acknowledged writes lost", with_ledger),
    ]


def to_junit(data: ReportData, min_resilience: float | None = None) -> bytes:
    """JUnit XML: a testsuite per topology, failures carry the measured value."""
    cases = junit_cases(data, min_resilience)
    root = ET.Element("testsuites", name=_xml(f"aftershock {data.id} {data.experiment}"),
                      tests=str(len(cases)), failures=str(sum(c["status"] == "failed" for c in cases)))
    for topo in dict.fromkeys(c["topology"] for c in cases):
        mine = [c for c in cases if c["topology"] == topo]
        suite = ET.SubElement(root, "testsuite", name=_xml(f"{data.experiment} / {topo}"), tests=str(len(mine)),
                              failures=str(sum(c["status"] == "failed" for c in mine)),
                              skipped=str(sum(c["status"] == "skipped" for c in mine)))
        for case in mine:
            el = ET.SubElement(suite, "testcase", classname=_xml(f"aftershock.{data.experiment}.{topo}"),
                               name=_xml(case["name"]))
            if case["status"] == "failed":
                ET.SubElement(el, "failure", message=_xml(case["message"]), type="ResilienceThreshold").text = \
                    _xml(case["message"])
            elif case["status"] == "skipped":
                ET.SubElement(el, "skipped", message=_xml(case["message"]))
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True) + b"\n"
