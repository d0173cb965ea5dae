"""End to end in a real browser: `aftershock dashboard` as a subprocess over the store the real runner filled
(and a run it holds running), every page visited in Chromium, the content people rely on asserted.

Skips when /usr/bin/chromium is missing, unless AFTERSHOCK_REQUIRE_BROWSER=1 (then it fails).
Screenshots land in test-artifacts/ (gitignored); docs/screenshots/ holds the ones we looked at.
"""

from __future__ import annotations

import json
import os
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
from core.wait import wait_until
from presentation.answer import answer
from tests.support.dashboard_fixtures import HELD_TOPOLOGY, TOPOLOGIES, DashboardStore, HeldRun

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PAGE_TIMEOUT_MS = 150_000  # a loaded 2-core machine: the first page of a fresh server imports a lot
VIEWPORT = {"width": 1400, "height": 1800}

pytestmark = [pytest.mark.browser, pytest.mark.timeout(900)]  # the first test waits for the runner's store


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
            psutil.Process(pid).wait(timeout=60)
        except (ProcessLookupError, psutil.Error):
            pass
        except psutil.TimeoutExpired:
            os.killpg(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def dashboard(dashboard_store: DashboardStore, held_run: HeldRun) -> Iterator[str]:
    _need_browser()
    home = dashboard_store.home
    port = free_port()
    env = {**os.environ, "AFTERSHOCK_HOME": str(home),
           "AFTERSHOCK_BASELINE_S": "2", "AFTERSHOCK_FAULT_S": "3"}  # short experiments when launched from the UI
    env.pop("AFTERSHOCK_DASHBOARD_TOKEN", None)
    log = open(home.parent / "dashboard-test.log", "wb")  # noqa: SIM115 - closed in finally
    proc = subprocess.Popen([sys.executable, "-m", "aftershock.cli", "dashboard", "--port", str(port)], env=env,
                            cwd=str(ROOT), stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        def healthy() -> bool:
            assert proc.poll() is None, (home.parent / "dashboard-test.log").read_text()
            try:
                return requests.get(f"{url}/_stcore/health", timeout=2).ok
            except requests.RequestException:
                return False

        wait_until(healthy, 90, interval_s=0.2, what="the dashboard to answer")
        yield url
    finally:
        _stop_tree(proc)
        _stop_launches(home)
        log.close()


@pytest.fixture(scope="module")
def browser(dashboard: str) -> Iterator[object]:
    """One browser context for the module: Streamlit's scripts are fetched and compiled once, not per page."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = b.new_context(viewport=VIEWPORT)
            context.set_default_timeout(PAGE_TIMEOUT_MS)
            yield context
            context.close()
        finally:
            b.close()


def visit(browser: object, url: str, name: str, ready: str | None, *, charts: int = 0) -> object:
    """Open a page, wait for its title, ``ready`` and ``charts`` drawn Plotly charts; screenshot; no exception."""
    started = time.monotonic()
    page = browser.new_page()
    page.goto(url)
    page.wait_for_selector('[data-testid="stMainBlockContainer"] h1')
    if ready:
        page.wait_for_selector(ready)
    if charts:
        page.wait_for_function(f"() => document.querySelectorAll('.js-plotly-plot .main-svg').length >= {charts}")
    shoot(page, name)
    print(f"{name}: {time.monotonic() - started:.1f} s")  # noqa: T201 - timing shown with -s
    assert page.locator('[data-testid="stException"]').count() == 0, page.locator(
        '[data-testid="stException"]').first.inner_text()
    return page


def shoot(page: object, name: str) -> None:
    """A screenshot once no element is dimmed as stale (a fragment mid-refresh), as far as 10 s allow."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_function("() => !document.querySelector('[data-stale=\"true\"]')", timeout=10_000)
    except PlaywrightTimeout:
        pass  # a live page under load: shoot it as it is
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"dashboard-{name}.png"), full_page=True)


def test_overview_shows_the_matrix_and_the_latest_answers(browser: object, dashboard: str,
                                                          dashboard_store: DashboardStore) -> None:
    cid = dashboard_store.comparison_id
    page = visit(browser, f"{dashboard}/", "overview", f'.st-key-overview_matrix a[href*="comparison={cid}"]')
    page.get_by_text(answer(dashboard_store.summary).sentence).first.wait_for()  # the page streams in: wait
    shoot(page, "overview")
    matrix = page.locator(".st-key-overview_matrix")
    for topo in TOPOLOGIES:
        r = dashboard_store.summary["summary"][topo]["metrics"]["resilience"]["median"]
        assert matrix.get_by_text(topo, exact=True).count() == 1
        assert matrix.get_by_text(f"R {r:.1f}", exact=True).count() >= 1
    links = matrix.locator(f'a[href*="comparison={dashboard_store.comparison_id}"]')
    assert links.count() == len(TOPOLOGIES)
    assert page.get_by_text(answer(dashboard_store.summary).sentence).count() >= 1
    assert page.get_by_text("Deploy", exact=True).count() == 0  # the chrome is trimmed
    assert page.get_by_role("button", name="Emergency stop").count() == 1
    page.close()


def test_compare_opens_on_the_answer_with_markers_and_the_fault_window(browser: object, dashboard: str,
                                                                        dashboard_store: DashboardStore) -> None:
    cid = dashboard_store.comparison_id
    page = visit(browser, f"{dashboard}/compare?comparison={cid}", "compare", ".st-key-answer_box", charts=3)
    found = answer(dashboard_store.summary)
    box = page.locator(".st-key-answer_box")
    assert found.sentence in box.inner_text() and found.confidence in box.inner_text()
    legend = " ".join(page.locator(".js-plotly-plot").first.locator(".legendtext").all_text_contents())
    assert all(t in legend for t in TOPOLOGIES)
    if any(r["metrics"].get("ttd_s") is not None for r in dashboard_store.summary["results"]):
        assert "detected (TTD)" in legend
    if any(r["fault_windows"] for r in dashboard_store.summary["results"]):
        assert "fault active" in legend
    # the tables stream in after the answer and the charts: wait for them (summary table, bounds)
    page.wait_for_function("document.querySelectorAll('[data-testid=\"stDataFrame\"]').length >= 2",
                           timeout=60_000)
    assert page.locator('[data-testid="stDataFrame"]').count() >= 2
    assert page.locator("script", has_text='alert("x")').count() == 0  # the hostile title stays text
    page.close()


def test_run_page_draws_lanes_and_agents(browser: object, dashboard: str, dashboard_store: DashboardStore) -> None:
    run_id = dashboard_store.run_ids["centralized"]
    page = visit(browser, f"{dashboard}/run?run={run_id}", "run", ".js-plotly-plot", charts=5)
    assert page.locator(".js-plotly-plot .ytick", has_text="action · kill-one-agent-node").count() >= 1
    assert page.get_by_text("Agents alive per region").count() >= 1
    assert page.get_by_label("Search the event log").count() == 1
    page.close()


def test_live_page_draws_the_lab_map_of_the_running_run(browser: object, dashboard: str, held_run: HeldRun) -> None:
    page = visit(browser, f"{dashboard}/live", "live", f"text=on {HELD_TOPOLOGY}", charts=2)
    assert page.get_by_text(held_run.lab or "?").count() >= 1
    page.wait_for_selector(f'.js-plotly-plot .gtitle:has-text("Lab {held_run.lab}")')
    lab_map = page.locator(".js-plotly-plot", has=page.locator(".gtitle", has_text=f"Lab {held_run.lab}"))
    legend = lab_map.locator(".legendtext").all_text_contents()
    assert {"alive", "dead"} <= set(legend)
    assert lab_map.locator(".annotation-text", has_text="ms").count() >= 1  # links labelled with latency
    assert page.get_by_text("Its lab is not running").count() == 0
    shoot(page, "live")
    page.close()


def test_lab_page_maps_the_running_lab(browser: object, dashboard: str, held_run: HeldRun) -> None:
    page = visit(browser, f"{dashboard}/lab", "lab", f"text={held_run.lab}", charts=1)
    assert page.get_by_role("button", name="Stop this lab").count() >= 1
    assert page.get_by_text("nodes alive").count() >= 1
    assert page.get_by_text("Start a lab").count() == 1
    page.close()


def test_history_launch_and_audit_render(browser: object, dashboard: str) -> None:
    page = visit(browser, f"{dashboard}/history?topology=centralized", "history", ".js-plotly-plot", charts=2)
    assert page.locator(".js-plotly-plot .xtick").count() > 0
    page.close()
    visit(browser, f"{dashboard}/launch", "launch", '[data-testid="stForm"]').close()
    visit(browser, f"{dashboard}/audit", "audit", None).close()
    visit(browser, f"{dashboard}/run?run=does-not-exist", "run-bad-id", "text=No run does-not-exist").close()


def test_launch_from_the_ui_shows_up_on_live(browser: object, dashboard: str) -> None:
    page = visit(browser, f"{dashboard}/launch", "launch-form", '[data-testid="stForm"]')
    tags = page.locator('[data-testid="stMultiSelect"] [data-tag]:visible')
    for other in [t for t in tags.all_text_contents() if t != "centralized"]:  # one short run, not several
        page.get_by_role("button", name=f"Remove {other}", exact=True).click()
    assert tags.all_text_contents() == ["centralized"]
    for label in ("Warm-up (s)", "Observe after the fault (s)"):
        page.get_by_label(label).fill("2")
    page.get_by_role("button", name="Launch").click()
    page.get_by_text("Launched").wait_for()
    shoot(page, "launched")
    page.close()
    live = browser.new_page()
    live.goto(f"{dashboard}/live")
    live.get_by_text("running run(s)").first.wait_for()
    live.get_by_text("on centralized").first.wait_for()  # refreshed in place by the fragment
    assert live.locator('[data-testid="stException"]').count() == 0
    live.close()
