"""Text rendering of a comparison summary for the terminal (the CLI's summary table)."""

from __future__ import annotations

from typing import Any

__all__ = ["format_summary"]

COLUMNS = [("resilience", "R", "{:.1f}"), ("ttr_s", "TTR s", "{:.1f}"), ("ttd_s", "TTD s", "{:.1f}"),
           ("depth", "depth", "{:.2f}"), ("lost_tasks", "lost", "{:.0f}"), ("sessions_lost", "sess.lost", "{:.0f}"),
           ("p99_inflation", "p99 x", "{:.1f}")]


def _cell(stat: dict[str, Any] | None, fmt: str) -> str:
    if not stat or stat.get("n", 0) == 0:
        return "-"
    if stat.get("median_censored"):
        return "not recovered"
    median = stat.get("median")
    if median is None:
        return "-"
    text = fmt.format(median)
    low, high = stat.get("ci_low"), stat.get("ci_high")
    if low is not None and (high is not None or stat.get("high_censored")):
        text += f" [{fmt.format(low)}, {'>T' if high is None else fmt.format(high)}]"
    return text


def format_summary(summary: dict[str, Any]) -> str:
    """Medians with 95% intervals per topology, then verdicts, then runs needing attention."""
    rows = [["topology", "runs", *[c[1] for c in COLUMNS]]]
    for topo, entry in sorted(summary.get("summary", {}).items()):
        metrics = entry.get("metrics", {})
        rows.append([topo, f"{entry.get('runs_used', 0)}/{entry.get('runs', 0)}",
                     *[_cell(metrics.get(key), fmt) for key, _, fmt in COLUMNS]])
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
