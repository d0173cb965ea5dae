"""``build_report(store, id, fmt)``: the one entry point of the CLI and the dashboard's export button."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from core.errors import ReportError
from reports import html, pdf, text
from reports.data import load_report_data
from store import RunStore

__all__ = ["FORMATS", "SUFFIXES", "build_report", "render", "write_report"]

FORMATS = ("html", "pdf", "json", "md", "junit")
SUFFIXES = {"html": ".html", "pdf": ".pdf", "json": ".json", "md": ".md", "junit": ".xml"}


def render(data: object, fmt: str, *, min_resilience: float | None = None, browser: str | None = None) -> bytes:
    """Render gathered :class:`reports.data.ReportData` in one format."""
    if fmt == "json":
        return text.to_json(data)  # type: ignore[arg-type]
    if fmt == "md":
        return text.to_markdown(data)  # type: ignore[arg-type]
    if fmt == "junit":
        return text.to_junit(data, min_resilience)  # type: ignore[arg-type]
    if fmt == "html":
        return html.to_html(data, min_resilience)  # type: ignore[arg-type]
    if fmt == "pdf":
        return pdf.html_to_pdf(html.to_html(data, min_resilience), browser=browser)  # type: ignore[arg-type]
    raise ReportError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")


def build_report(store: RunStore, report_id: str, fmt: str, *, home: Path | None = None,
                 min_resilience: float | None = None, browser: str | None = None) -> bytes:
    """The report of a run (``r-...``) or comparison (``c-...``) as bytes.

    ``home`` (the data directory) adds regression flags of scheduled runs; ``min_resilience`` overrides the
    experiment's ``aftershock.slo.min_resilience`` for the JUnit/HTML thresholds.
    """
    if fmt not in FORMATS:
        raise ReportError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    if min_resilience is not None and not 0 <= min_resilience <= 100:
        raise ReportError(f"--min-resilience is a resilience R in 0..100, got {min_resilience:g}")
    data = load_report_data(store, report_id, home=home)
    return render(data, fmt, min_resilience=min_resilience, browser=browser)


def write_report(path: Path, content: bytes) -> None:
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
