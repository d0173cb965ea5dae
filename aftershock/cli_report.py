"""``aftershock report ID --format html|pdf|json|md|junit -o PATH``."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from core.errors import ReportError
from core.settings import Settings
from reports import build_report
from store import RunStore

__all__ = ["register"]

_FORMATS = ("html", "pdf", "json", "md", "junit")
_SUFFIX = {"html": ".html", "pdf": ".pdf", "json": ".json", "md": ".md", "junit": ".xml"}


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


def _write(path: Path, content: bytes) -> None:
    """Atomic: a failed report never leaves half a file where the old one was."""
    if not path.parent.is_dir():
        raise ReportError(f"{path}: directory {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a report is an ordinary file
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ReportError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _report(args: argparse.Namespace, settings: Settings) -> int:
    with RunStore.open(settings.store_dir, readonly=True) as store:
        content = build_report(store, args.id, args.format, home=settings.home,
                               min_resilience=args.min_resilience, browser=args.browser)
    if args.output == "-":
        sys.stdout.buffer.write(content)
        sys.stdout.flush()
        return 0
    path = Path(args.output or f"{args.id}{_SUFFIX[args.format]}")
    _write(path, content)
    print(f"{args.format} report of {args.id}: {path} ({len(content):,} bytes)", file=sys.stderr)
    if args.format == "junit" and b"<failure" in content:
        return 1
    return 0
