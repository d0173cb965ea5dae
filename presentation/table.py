"""Text rendering of a comparison summary for the terminal (the CLI's summary table)."""

from __future__ import annotations

from typing import Any

from presentation.axes import headroom_lines, headroom_rows, scale_lines, scale_rows
from presentation.text import fmt_interval, metric, recovery_words

__all__ = ["format_summary"]

COLUMNS = ("resilience", "ttr_s", "ttr_after_lift_s", "ttd_s", "depth", "lost_tasks", "sessions_lost",
           "p99_inflation")


def format_summary(summary: dict[str, Any]) -> str:
    """Medians with 95% intervals per topology, then verdicts, then runs needing attention."""
    rows = [["topology", "runs", *[metric(key).short for key in COLUMNS]]]
    for topo, entry in sorted(summary.get("summary", {}).items()):
        metrics = entry.get("metrics", {})
        rows.append([topo, f"{entry.get('runs_used', 0)}/{entry.get('runs', 0)}",
                     *[fmt_interval(metrics.get(key), metric(key).digits) for key in COLUMNS]])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [f"comparison {summary.get('comparison_id')}  ({summary.get('experiment')})"]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    lines += _recovery_lines(summary)
    verdicts = summary.get("verdicts", [])
    clear = [v["text"] for v in verdicts if v.get("outcome") == "clear"]
    folded = len(verdicts) - len(clear)
    if clear:
        lines.append("verdicts: " + "; ".join(clear) + (f" ({folded} without a clear difference folded)"
                                                        if folded else ""))
    elif any(v.get("outcome") == "insufficient_repeats" for v in verdicts):
        lines.append("verdicts: none: run more repeats (--repeat 3 or more) to compare with intervals")
    elif any(v.get("outcome") == "within_control_noise" for v in verdicts):
        lines.append("verdicts: no difference beyond the control runs' noise")
    elif verdicts:
        lines.append("verdicts: no clear difference between topologies")
    if summary.get("controls"):
        lines.append("control runs (fault replaced by a no-op): " + ", ".join(
            f"{topo} {len(c.get('runs') or [])}" for topo, c in sorted(summary["controls"].items())))
    for run in summary.get("runs", []):
        flags = []
        if run.get("saturated"):
            flags.append(f"machine saturated (CPU {run.get('cpu_mean', 0):.0f}%): figures may reflect the machine")
        if run.get("aborted_reason"):
            flags.append(run["aborted_reason"])
        if run.get("status") not in ("completed", None) and not flags:
            flags.append(f"status {run['status']}")
        if flags:
            lines.append(f"  {run['run_id']} ({run['topology']}): " + "; ".join(flags))
    for skipped in summary.get("not_analysed", []):
        lines.append(f"  {skipped['run_id']} ({skipped['topology']}) not analysed: {skipped['error']}")
    fragility = summary.get("fragility")
    if fragility:
        for curve in fragility.get("curves", []):
            lines.append(f"fragility {curve['topology']}: {curve['shape']} (harm {curve.get('harm_first')} -> "
                         f"{curve.get('harm_last')})")
    lines += _axis_lines(summary)
    return "\n".join(lines)


def _grid(frame: Any) -> list[str]:
    """A DataFrame as aligned text columns (headers first), two spaces apart."""
    rows = [[str(c) for c in frame.columns]] + [["-" if v is None or v != v else str(v) for v in r]
                                                 for r in frame.itertuples(index=False)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows]


def _axis_lines(summary: dict[str, Any]) -> list[str]:
    """A sweep over size (``scale``) or capacity (``headroom``): its table and its answer per topology."""
    lines: list[str] = []
    scale = scale_rows(summary)
    if not scale.empty:
        lines.append("scale: harm against fleet size (medians [95% interval]; TTD beside the expected detection)")
        lines += _grid(scale.drop(columns=["nodes"]))
        lines += [f"stronger as it scales? {line}" if not line.startswith("(") else line
                  for line in scale_lines(summary)]
    head = headroom_rows(summary)
    if not head.empty:
        slo = (summary.get("headroom") or {}).get("slo")
        lines.append(f"headroom: resilience against provisioned capacity, the same load (SLO {100 * float(slo):g} % "
                     "availability during the fault, every run)" if slo else "headroom:")
        lines += _grid(head.drop(columns=["asked tasks/s"]))
        lines += [f"what resilience costs: {line}" for line in headroom_lines(summary)]
    return lines


def _recovery_lines(summary: dict[str, Any]) -> list[str]:
    """Per topology: how it recovered in words; one run's statement labelled as such; properties and bounds."""
    lines = []
    for topo, entry in sorted(summary.get("summary", {}).items()):
        rec = entry.get("recovery") or {}
        single = entry.get("single_run")
        if single and single.get("statements"):
            for stmt in single["statements"]:
                lines.append(f"{topo} ({single.get('label')}): {stmt.get('text')}")
        elif rec.get("kind"):
            lines.append(f"{topo}: {recovery_words(rec['kind'])}: {rec.get('text')}")
        if rec.get("bound_violations"):
            lines.append(f"  {topo}: {rec['bound_violations']} run(s) beat their recovery mechanism's bound")
        props = entry.get("properties") or {}
        if props.get("no_acknowledged_write_lost") is False:
            lines.append(f"  {topo}: acknowledged session writes were lost (see the ledger)")
        if props.get("no_loss_without_fault") is False:
            lines.append(f"  {topo}: session memory lost while no fault was active: a defect of the deployment")
    for r in summary.get("results", []):
        over = r.get("overload") or {}
        if over.get("rejected") or over.get("queued"):
            lines.append(f"  {r.get('topology')} ({r.get('run_id')}): overloaded: {over.get('text')}")
        elif (r.get("elasticity") or {}).get("policy"):
            lines.append(f"  {r.get('topology')} ({r.get('run_id')}): elastic: {r['elasticity'].get('text')}")
    for r in summary.get("results", []):
        part = r.get("partial") or {}
        if part.get("partial"):
            covers = part.get("covers_s")
            seen = "no data after the injection" if covers is None else f"covers {covers:g} s"
            lines.append(f"  {r.get('run_id')} ({r.get('topology')}): partial run ({part.get('reason')}): {seen} of "
                         f"the {part.get('window_s'):g} s window; no resilience figure")
    return lines
