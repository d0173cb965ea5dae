"""End to end in a real browser: `aftershock dashboard` as a subprocess, every page visited in Chromium.

Skips when /usr/bin/chromium is missing, unless AFTERSHOCK_REQUIRE_BROWSER=1 (then it fails).
Screenshots land in test-artifacts/ (gitignored).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import requests

from collectors.promserver import free_port
from core.settings import Settings
from core.wait import wait_until
from tests.support.dashboard_fixtures import FilledStore, filled_store_once

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
PAGE_TIMEOUT_MS = 60_000

pytestmark = pytest.mark.browser


def _need_browser() -> None:
    if not CHROMIUM.exists():
        if os.environ.get("AFTERSHOCK_REQUIRE_BROWSER") == "1":
            pytest.fail(f"AFTERSHOCK_REQUIRE_BROWSER=1 but {CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} is missing (set AFTERSHOCK_REQUIRE_BROWSER=1 to make this a failure)")


def _stop_tree(proc: subprocess.Popen) -> None:
    """SIGTERM the CLI (it stops streamlit), then SIGKILL anything of its tree still alive."""
    try:
        tree = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        tree = []
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
    for child in tree:
        try:
            child.kill()
        except psutil.Error:
            pass


def _stop_launches(home: Path) -> None:
    """Runs launched from the Launch page live in their own session: stop them (they roll back)."""
    for meta in (home / "dashboard" / "launches").glob("*.meta.json"):
        pid = json.loads(meta.read_text())["pid"]
        try:
            os.killpg(pid, signal.SIGTERM)
            psutil.Process(pid).wait(timeout=30)
        except (ProcessLookupError, psutil.Error):
            pass
        except psutil.TimeoutExpired:
            os.killpg(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> FilledStore:
    """A copy of the shared store: launching from the UI adds runs the AppTest modules must not see."""
    shared = filled_store_once(tmp_path_factory.mktemp("dashboard"))
    home = tmp_path_factory.mktemp("dashboard-browser") / "home"
    shutil.copytree(shared.settings.home / "store", home / "store")
    return dataclasses.replace(shared, settings=Settings(home=home).ensure())


@pytest.fixture(scope="module")
def dashboard(filled: FilledStore) -> Iterator[str]:
    _need_browser()
    port = free_port()
    env = {**os.environ, "AFTERSHOCK_HOME": str(filled.settings.home),
           "AFTERSHOCK_BASELINE_S": "2", "AFTERSHOCK_FAULT_S": "3"}  # short experiments when launched from the UI
    env.pop("AFTERSHOCK_DASHBOARD_TOKEN", None)
    log = open(filled.settings.home / "dashboard-test.log", "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen([sys.executable, "-m", "aftershock.cli", "dashboard", "--port", str(port)], env=env,
                            cwd=str(ROOT), stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        def healthy() -> bool:
            assert proc.poll() is None, (filled.settings.home / "dashboard-test.log").read_text()
            try:
                return requests.get(f"{url}/_stcore/health", timeout=2).ok
            except requests.RequestException:
                return False

        wait_until(healthy, 60, interval_s=0.2, what="the dashboard to answer")
        yield url
    finally:
        _stop_tree(proc)
        _stop_launches(filled.settings.home)
        log.close()


@pytest.fixture(scope="module")
def browser(dashboard: str) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def visit(browser: object, url: str, name: str, ready: str | None) -> object:
    """Open a page, wait for Streamlit to finish the run (and for ``ready``), screenshot it."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    started = time.monotonic()
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(url)
    page.wait_for_selector('[data-testid="stApp"]')
    page.wait_for_selector('[data-testid="stMainBlockContainer"] h1')
    if ready:
        page.wait_for_selector(ready)
    try:  # let the script run finish (the widget also blinks with fragments that re-run)
        page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')", timeout=10_000)
    except PlaywrightTimeout:
        pass
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=False)
    print(f"{name}: {time.monotonic() - started:.1f} s")  # noqa: T201 - timing shown with -s
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]').first.inner_text()
    return page


def test_every_page_renders_without_exception(browser: object, dashboard: str, filled: FilledStore) -> None:
    page = visit(browser, f"{dashboard}/", "compare", ".js-plotly-plot")
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 3
    assert page.locator('[data-testid="stDataFrame"]').count() >= 1  # the summary table
    assert page.get_by_text("Summary: medians with 95% intervals").count() == 1
    assert page.locator("script", has_text='alert("x")').count() == 0  # the hostile title stays text
    page.close()
    run_id = filled.run_ids["decentralized"]
    page = visit(browser, f"{dashboard}/run?run={run_id}", "run", ".js-plotly-plot")
    assert page.locator('[data-testid="stPlotlyChart"]').count() >= 5
    page.close()
    for name, ready in (("live", "text=running run(s)"), ("lab", "text=No lab is running"),
                        ("launch", '[data-testid="stForm"]'), ("history", ".js-plotly-plot")):
        visit(browser, f"{dashboard}/{name}", name, ready).close()
    visit(browser, f"{dashboard}/run?run=does-not-exist", "run-bad-id", "text=No run does-not-exist").close()


def test_launch_from_the_ui_shows_up_on_live(browser: object, dashboard: str, filled: FilledStore) -> None:
    try:
        import aftershock.cli_run  # noqa: F401
    except ImportError:
        pytest.skip("needs the runner (aftershock.cli_run), not in this build yet")
    page = visit(browser, f"{dashboard}/launch", "launch-form", '[data-testid="stForm"]')
    page.get_by_label("Topologies").click()  # keep only the first topology: remove the others
    chips = page.locator('[data-testid="stMultiSelect"] [data-baseweb="tag"] [role="presentation"]')
    while chips.count() > 1:
        chips.last.click()
    page.keyboard.press("Escape")
    for label in ("Warm-up (s)", "Observe after the fault (s)"):
        page.get_by_label(label).fill("2")
    page.get_by_role("button", name="Launch").click()
    page.get_by_text("Launched").wait_for()
    page.screenshot(path=str(ARTIFACTS / "dashboard-launched.png"), full_page=True)
    page.close()
    live = browser.new_page(viewport={"width": 1400, "height": 1000})
    live.set_default_timeout(PAGE_TIMEOUT_MS)
    live.goto(f"{dashboard}/live")
    live.get_by_text("running run(s)").first.wait_for()
    live.get_by_text("on centralized").first.wait_for(timeout=60_000)  # refreshed in place by the fragment
    live.screenshot(path=str(ARTIFACTS / "dashboard-live.png"), full_page=True)
    assert live.locator('[data-testid="stException"]').count() == 0
    live.close()
