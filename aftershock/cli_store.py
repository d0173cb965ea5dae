"""``aftershock runs`` and ``aftershock show ID``: a thin layer over :mod:`store`.

``register(subparsers)`` adds the parsers; each sets ``func(args, settings) -> int``. Errors the user can
fix are raised as :class:`~core.errors.UserError` subclasses and printed by the main CLI.
:func:`describe` builds what ``show`` prints; the analysis adds its summary there (see the hook).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from typing import Any, TextIO

from core.errors import AnalysisError
from core.settings import Settings
from presentation.table import format_summary
from presentation.text import recovery_words
from results import analyse_stored_run, summarise_comparison
from store import RunStore, StoreMissing
from store.errors import RunNotFound

__all__ = ["register", "cmd_runs", "cmd_show", "describe", "format_runs_table"]

_TABLE_COLUMNS = ("run_id", "experiment", "topology", "repeat", "status", "started", "duration")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``runs`` and ``show`` to the main parser's subcommands."""
    runs = subparsers.add_parser("runs", help="list recorded runs, newest first")
    runs.add_argument("--json", action="store_true", help="print JSON instead of a table")
    runs.add_argument("--experiment", help="only runs of this experiment")
    runs.add_argument("--topology", help="only runs of this topology")
    runs.set_defaults(func=cmd_runs)

    show = subparsers.add_parser("show", help="details of one run or comparison")
    show.add_argument("id", metavar="RUN_OR_COMPARISON_ID", help="an id from `aftershock runs` (r-... or c-...)")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(func=cmd_show)


def cmd_runs(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        store = RunStore.open(settings.store_dir, readonly=True)
    except StoreMissing:
        out.write("[]\n" if args.json else f"no runs recorded yet in {settings.store_dir}\n")
        return 0
    with store:
        frame = store.list_runs(experiment=args.experiment, topology=args.topology)
    rows = [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
    if args.json:
        json.dump(rows, out, indent=2)
        out.write("\n")
    else:
        out.write(format_runs_table(rows) + "\n")
    return 0


def cmd_show(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        store = RunStore.open(settings.store_dir, readonly=True)
    except StoreMissing as exc:
        raise RunNotFound(args.id, settings.store_dir) from exc
    with store:
        info = describe(store, args.id)
    if args.json and info["kind"] == "comparison":
        # The stable summary of docs/results.md, plus the comparison's own record.
        doc = {**info["analysis"], "title": info.get("title", ""), "created_at": info.get("created_at")}
        json.dump(doc, out, indent=2, default=str)
        out.write("\n")
    elif args.json:
        json.dump(info, out, indent=2, default=str)
        out.write("\n")
    else:
        out.write(_format_detail(info) + "\n")
    return 0


def describe(store: RunStore, item_id: str) -> dict[str, Any]:
    """What ``show`` prints for a run (``r-...``) or a comparison (``c-...``).

    Hook for the analysis: add its summary under the ``"analysis"`` key here, so ``show --json`` prints
    it beside the stored metadata and counts.
    """

    if item_id.startswith("c-"):
        comparison = store.get_comparison(item_id)
        # "kind" says what was asked for (a comparison, not a run); a sweep keeps its own kind apart
        record = comparison.to_json()
        return {**record, "kind": "comparison", "comparison_kind": record.get("kind") or "comparison",
                "analysis": summarise_comparison(store, item_id)}
    run = store.get_run(item_id)
    info = {"kind": "run", **run.to_json(), "counts": store.run_stats(item_id)}
    try:
        info["analysis"] = analyse_stored_run(store, item_id).to_json_dict()
    except AnalysisError as exc:
        info["analysis_error"] = str(exc)
    return info


def format_runs_table(rows: list[dict[str, Any]]) -> str:
    """A fixed-width table of runs (newest first, as given)."""
    if not rows:
        return "no runs match"
    cells = [
        [
            str(r["run_id"]),
            str(r["experiment"]),
            str(r["topology"]),
            str(r["repeat"]),
            str(r["status"]),
            _when(r["started_at"]),
            "-" if r["duration_s"] is None else f"{r['duration_s']:.1f}s",
        ]
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(_TABLE_COLUMNS)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(_TABLE_COLUMNS, widths, strict=True))]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join(line.rstrip() for line in lines)


def _format_detail(info: dict[str, Any]) -> str:
    if info["kind"] == "comparison":
        head = [
            f"comparison {info['comparison_id']} ({info.get('comparison_kind') or info['kind']}: {info['experiment']})",
            f"  title: {info['title'] or '-'}",
            f"  created: {_when(info['created_at'])}",
            f"  runs: {len(info['runs'])}",
        ]
        rows = [
            {**r, "duration_s": None if r["ended_at"] is None else r["ended_at"] - r["started_at"]}
            for r in info["runs"]
        ]

        return "\n".join(head) + "\n" + format_runs_table(rows) + "\n\n" + format_summary(info["analysis"])
    counts = info["counts"]
    duration = "-" if info["ended_at"] is None else f"{info['ended_at'] - info['started_at']:.1f}s"
    return "\n".join(
        [
            f"run {info['run_id']}: {info['status']}",
            f"  experiment: {info['experiment']}  topology: {info['topology']}  repeat: {info['repeat']}",
            f"  comparison: {info['comparison_id'] or '-'}",
            f"  started: {_when(info['started_at'])}  duration: {duration}",
            f"  injected: {_when(info['injected_at'])}",
            f"  series: {counts['series']}  samples: {counts['samples']}  events: {counts['events']}  "
            f"activities: {counts['activities']}  journal: {'yes' if counts['journal'] else 'no'}",
            f"  request log: {info['request_log'] or '-'}",
            *_analysis_lines(info),
        ]
    )


def _analysis_lines(info: dict[str, Any]) -> list[str]:
    if "analysis" not in info:
        return [f"  analysis: {info.get('analysis_error', '-')}"]
    analysis = info["analysis"]
    m = analysis["metrics"]
    ttr = f"{m.get('ttr_s'):.2f} s" if m.get("ttr_s") is not None else recovery_words(m.get("recovery"))
    lines = [f"  source: {analysis['source']}  resilience: {m.get('resilience')}  TTR: {ttr}  "
             f"TTD: {m.get('ttd_s')} s  depth: {m.get('depth')}  lost tasks: {m.get('lost_tasks')}",
             f"  recovery: {recovery_words(m.get('recovery'))}: {(analysis.get('recovery') or {}).get('text', '-')}"]
    partial = analysis.get("partial") or {}
    if partial.get("partial"):
        lines.append(f"  partial run ({partial.get('reason')}): covers {partial.get('covers_s')} s of the "
                     f"{partial.get('window_s')} s window")
    return lines


def _when(ts: float | None) -> str:
    if ts is None or (isinstance(ts, float) and math.isnan(ts)):
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _plain(value: Any) -> Any:
    """JSON-friendly scalars: NaN becomes None, numpy numbers become Python numbers."""
    if value is None:
        return None
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
