"""Text rendering of a comparison summary for the terminal (the CLI's summary table)."""

from __future__ import annotations

from typing import Any

from presentation.text import fmt_interval, metric

__all__ = ["format_summary"]

COLUMNS = ("resilience", "ttr_s", "ttd_s", "depth", "lost_tasks", "sessions_lost", "p99_inflation")


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
    verdicts = summary.get("verdicts", [])
    clear = [v["text"] for v in verdicts if v.get("outcome") == "clear"]
    if clear:
        lines.append("verdicts: " + "; ".join(clear))
    elif any(v.get("outcome") == "insufficient_repeats" for v in verdicts):
        lines.append("verdicts: none: run more repeats (--repeat 3 or more) to compare with intervals")
    elif verdicts:
        lines.append("verdicts: no clear difference between topologies")
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
    return "\n".join(lines)
