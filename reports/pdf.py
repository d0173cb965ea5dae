"""PDF through headless Chromium: the HTML report printed after its plotly charts have drawn.

``--virtual-time-budget`` lets the page's scripts run (the charts render) before printing; the browser gets
a throwaway profile and no network-facing services.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

from core.errors import ReportError

__all__ = ["find_browser", "html_to_pdf", "browser_args", "BROWSER_NAMES", "PDF_TIMEOUT_S"]

log = logging.getLogger("aftershock.reports")

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
PDF_TIMEOUT_S = 120.0
VIRTUAL_TIME_MS = 10_000


def find_browser(explicit: str | None = None) -> str:
    """The Chromium to print with: ``explicit`` or the first of :data:`BROWSER_NAMES` on PATH."""
    if explicit:
        found = shutil.which(explicit)
        if not found:
            raise ReportError(f"browser {explicit!r} not found; PDF reports need Chromium or Chrome")
        return found
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise ReportError("PDF reports need Chromium or Chrome on PATH (tried: " + ", ".join(BROWSER_NAMES) +
                      "); install it (Debian: apt-get install chromium) or use --format html")


def browser_args(browser: str, profile: Path) -> list[str]:
    return [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-extensions",
            "--disable-dev-shm-usage", f"--user-data-dir={profile}"]


def html_to_pdf(html: bytes, *, browser: str | None = None, timeout_s: float = PDF_TIMEOUT_S) -> bytes:
    """Print ``html`` to PDF; :class:`ReportError` when no browser is found or it fails."""
    exe = find_browser(browser)
    with tempfile.TemporaryDirectory(prefix="aftershock-pdf-") as tmp:
        src, out, profile = Path(tmp) / "report.html", Path(tmp) / "report.pdf", Path(tmp) / "profile"
        src.write_bytes(html)
        argv = [*browser_args(exe, profile), "--no-pdf-header-footer", "--run-all-compositor-stages-before-draw",
                f"--virtual-time-budget={VIRTUAL_TIME_MS}", f"--print-to-pdf={out}", src.as_uri()]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise ReportError(f"{exe} did not finish printing the PDF within {timeout_s:g} s") from None
        if not out.exists() or out.stat().st_size == 0:
            last = (proc.stderr or "").strip().splitlines()[-1:] or ["no output"]
            raise ReportError(f"{exe} failed to print the PDF (exit {proc.returncode}): {last[0][:300]}")
        return out.read_bytes()
