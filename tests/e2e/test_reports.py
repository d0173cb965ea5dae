"""Reports of a REAL short run, fired end to end by ``aftershock schedule run`` (which runs ``aftershock run``):
every format from the stored comparison, the PDF a real PDF, the HTML offline and rendered by Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from aftershock.cli import main
from core.settings import Settings
from reports import build_report
from reports.html import NAMESPACE_URL
from scheduling import ScheduleBook
from store import RunStore

pytestmark = pytest.mark.lab

HOSTILE = '<script>alert(1)</script> "quotes" ]]> | `tick` ${x} ünïcødé ✓'
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["'`]?\s*(?:https?:)?//""", re.I)


def browser() -> str | None:
    found = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)
    if found is None and os.environ.get("AFTERSHOCK_REQUIRE_BROWSER") == "1":
        pytest.fail("AFTERSHOCK_REQUIRE_BROWSER=1 but no chromium/chromium-browser/google-chrome on PATH")
    if found is None:
        pytest.skip("no Chromium on PATH")
    return found


def write_experiment(path: Path) -> Path:
    path.write_text(yaml.safe_dump({
        "title": f"Kill {HOSTILE}", "description": f"tiny experiment {HOSTILE}\nsecond line",
        "steady-state-hypothesis": {"title": "served", "probes": [{
            "type": "probe", "name": f"availability {HOSTILE}", "tolerance": {"type": "range", "range": [0.0, 1.0]},
            "provider": {"type": "python", "module": "chaos.probes", "func": "availability",
                         "arguments": {"window_s": 2}}}]},
        "method": [{"type": "action", "name": f"kill one node {HOSTILE}",
                    "provider": {"type": "python", "module": "chaos.actions", "func": "kill_node",
                                 "arguments": {"role": "agent", "count": 1, "seed": 3}}, "pauses": {"after": 2}}],
        "rollbacks": [{"type": "action", "name": "heal the lab",
                       "provider": {"type": "python", "module": "chaos.actions", "func": "heal"}}],
        "extensions": [{"name": "aftershock", "slo": {"min_resilience": 0}}],
    }, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One real scheduled run (kill one node, pause 2 s, heal; warm-up/observe 2 s) on one topology."""
    tmp = tmp_path_factory.mktemp("reports")
    settings = Settings(home=tmp / "home").ensure()
    exp = write_experiment(tmp / "kill.yaml")
    assert main(["schedule", "add", "real", "--cron", "0 3 * * *", str(exp), "-t", "decentralized",
                 "--warmup", "2", "--observe", "2", "--timeout", "240"], settings) == 0
    os.environ.pop("AFTERSHOCK_SCHEDULE_RUN_COMMAND", None)
    code = main(["schedule", "run", "real", "--json"], settings)
    with ScheduleBook.open(settings.home) as book:
        attempt = book.attempts("real")[0]
    yield {"settings": settings, "attempt": attempt, "code": code, "tmp": tmp}


def test_a_real_scheduled_run_lands_as_a_comparison(real: dict[str, Any]) -> None:
    attempt = real["attempt"]
    assert (attempt.outcome, real["code"]) == ("completed", 0), attempt.reason
    assert attempt.comparison_id and attempt.comparison_id.startswith("c-")
    with RunStore.open(real["settings"].store_dir, readonly=True) as store:
        comparison = store.get_comparison(attempt.comparison_id)
    assert [r["topology"] for r in comparison["runs"]] == ["decentralized"]
    assert attempt.metrics["topologies"]["decentralized"]["share_consumed"][0] is not None


def report(real: dict[str, Any], fmt: str, report_id: str | None = None, **kw: Any) -> bytes:
    with RunStore.open(real["settings"].store_dir, readonly=True) as store:
        return build_report(store, report_id or real["attempt"].comparison_id, fmt, home=real["settings"].home, **kw)


def test_json_is_the_analysis_summary(real: dict[str, Any]) -> None:
    doc = json.loads(report(real, "json"))
    assert doc["schema_version"] == 2 and doc["comparison_id"] == real["attempt"].comparison_id
    assert doc["results"][0]["metrics"]["budget_burn"]["share_consumed"] is not None


def test_markdown_has_the_table_and_escapes(real: dict[str, Any]) -> None:
    md = report(real, "md").decode()
    assert "| decentralized | 1/1 |" in md and "### Verdicts" in md
    assert "<script>" not in md and "&lt;script&gt;" in md and "\\|" in md and "\\`tick\\`" in md


def test_junit_cases_per_topology_and_threshold(real: dict[str, Any]) -> None:
    root = ET.fromstring(report(real, "junit", min_resilience=100.1 - 0.1))
    names = [c.get("name") for c in root.iter("testcase")]
    assert any(n.startswith("steady state availability <script>") for n in names)
    assert "resilience >= 100" in names and "recovers within the analysis window" in names
    resilience = next(c for c in root.iter("testcase") if c.get("name") == "resilience >= 100")
    failure = resilience.find("failure")
    if failure is not None:
        assert re.search(r"resilience median \d+\.\d < 100", failure.get("message"))


def test_run_report_and_unknown_ids(real: dict[str, Any], capsys: pytest.CaptureFixture) -> None:
    with RunStore.open(real["settings"].store_dir, readonly=True) as store:
        run_id = store.get_comparison(real["attempt"].comparison_id)["runs"][0]["run_id"]
    assert json.loads(report(real, "json", run_id))["results"][0]["run_id"] == run_id
    assert main(["report", "c-20000101-000000-dead", "-f", "md", "-o", "-"], real["settings"]) == 2
    assert main(["report", "bogus", "-f", "md", "-o", "-"], real["settings"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 2


def test_html_is_offline_and_escaped(real: dict[str, Any]) -> None:
    page = report(real, "html").decode()
    assert not EXTERNAL.search(page), EXTERNAL.search(page)
    assert NAMESPACE_URL.sub("", page).count("http://") == 0 and "https://" not in page
    assert "<script>alert(1)</script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert page.count('class="plotly-graph-div"') >= 4  # availability, latency, throughput, timeline


@pytest.fixture
def profile() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="aftershock-test-chromium-") as tmp:
        yield Path(tmp)


def test_html_renders_in_chromium_without_js_errors(real: dict[str, Any], profile: Path) -> None:
    exe = browser()
    page = real["tmp"] / "report.html"
    page.write_bytes(report(real, "html"))
    from reports.pdf import browser_args

    proc = subprocess.run([*browser_args(exe, profile), "--enable-logging=stderr", "--v=0",
                           "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    dom = proc.stdout
    charts = re.findall(r'id="aftershock-chart-\d+"', dom)
    assert len(charts) >= 4
    assert dom.count('class="main-svg"') >= len(charts), "every plot div was drawn by plotly.js"
    errors = [line for line in proc.stderr.splitlines() if "CONSOLE" in line and "Uncaught" in line]
    assert errors == []
    assert "<script>alert(1)</script>" not in dom


def test_pdf_is_a_real_pdf_with_pages(real: dict[str, Any]) -> None:
    browser()
    out = real["tmp"] / "report.pdf"
    assert main(["report", real["attempt"].comparison_id, "-f", "pdf", "-o", str(out)], real["settings"]) == 0
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", data))
    assert 2 <= pages <= 20
    assert len(data) > 20_000


def test_pdf_without_a_browser_is_a_clear_error(real: dict[str, Any], capsys: pytest.CaptureFixture) -> None:
    out = real["tmp"] / "none.pdf"
    code = main(["report", real["attempt"].comparison_id, "-f", "pdf", "--browser", "no-such-chromium-here",
                 "-o", str(out)], real["settings"])
    assert code == 2 and not out.exists()
    assert "PDF reports need Chromium" in capsys.readouterr().err
