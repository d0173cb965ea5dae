"""``aftershock report ID --format html|pdf|json|md|junit -o PATH``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from core.settings import Settings
from reports import SUFFIXES, build_report, write_report
from store import RunStore

__all__ = ["register"]

_FORMATS = ("html", "pdf", "json", "md", "junit")


def register(sub: argparse._SubParsersAction) -> None:
    report = sub.add_parser("report", help="export a run or comparison as HTML, PDF, JSON, Markdown or JUnit XML")
    report.add_argument("id", help="a run (r-...) or comparison (c-...) id; list them with `aftershock runs`")
    report.add_argument("--format", "-f", choices=_FORMATS, default="html")
    report.add_argument("--output", "-o", metavar="PATH",
                        help="file to write (default: ID.<ext> here; '-' writes to stdout)")
    report.add_argument("--min-resilience", type=float, metavar="R",
                        help="JUnit/HTML threshold: resilience median >= R (0..100) per topology; overrides the "
                             "experiment's extensions aftershock.slo.min_resilience")
    report.add_argument("--browser", metavar="EXE", help="Chromium/Chrome for --format pdf (default: from PATH)")
    report.set_defaults(func=_report)


def _report(args: argparse.Namespace, settings: Settings) -> int:
    with RunStore.open(settings.store_dir, readonly=True) as store:
        content = build_report(store, args.id, args.format, home=settings.home,
                               min_resilience=args.min_resilience, browser=args.browser)
    if args.output == "-":
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
        return 0
    path = Path(args.output or f"{args.id}{SUFFIXES[args.format]}")
    write_report(path, content)
    print(f"{args.format} report of {args.id}: {path} ({len(content):,} bytes)", file=sys.stderr)
    if args.format == "junit" and b"<failure" in content:
        return 1
    return 0
