"""AppTest smoke tests of every page: over a store filled by real short lab runs, over an empty store,
with bad query parameters, and the chaos gate when the dashboard is exposed beyond loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from tests.support.dashboard_fixtures import HOSTILE_TITLE, FilledStore, filled_store_once

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGES = ("compare", "run", "live", "lab", "launch", "history")
TIMEOUT = 60


@pytest.fixture(scope="session")
def filled(tmp_path_factory: pytest.TempPathFactory) -> FilledStore:
    return filled_store_once(tmp_path_factory.mktemp("dashboard"))


def page_script(page: str, home: str, host: str = "127.0.0.1", token: str | None = None) -> None:
    """Runs as the AppTest script (its body only): one page with a config built like app.py builds it."""
    import importlib

    from dashboards.config import config_from_environ

    env = {"AFTERSHOCK_HOME": home, "AFTERSHOCK_DASHBOARD_HOST": host}
    if token:
        env["AFTERSHOCK_DASHBOARD_TOKEN"] = token
    importlib.import_module(f"dashboards.pages.{page}").render(config_from_environ(env))


def run_page(page: str, home: Path, query: dict[str, str] | None = None, **kw: str | None) -> AppTest:
    at = AppTest.from_function(page_script, kwargs={"page": page, "home": str(home), **kw}, default_timeout=TIMEOUT)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(at: AppTest) -> str:
    parts = [e.value for kind in ("info", "warning", "error", "caption", "markdown", "success") for e in
             getattr(at, kind)]
    return "\n".join(str(p) for p in parts)


def plotly_count(at: AppTest) -> int:
    return len(at.get("plotly_chart"))


@pytest.fixture
def empty_home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "nothing-here"  # a data directory that does not even exist


# ------------------------------------------------------------------ empty store
@pytest.mark.parametrize("page", PAGES)
def test_every_page_on_an_empty_store_says_what_to_do(page: str, empty_home: Path) -> None:
    at = run_page(page, empty_home)
    shown = texts(at)
    expected = {"compare": "No comparisons yet", "run": "No runs yet", "live": "No experiment is running",
                "lab": "No lab is running", "launch": "", "history": "Nothing recorded yet"}[page]
    assert expected in shown
    if page == "launch":  # runner or library missing, or the launch form: never an exception
        assert ("not available" in shown or "library" in shown or at.get("multiselect"))


def test_app_router_on_an_empty_store(empty_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSHOCK_HOME", str(empty_home))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert "No comparisons yet" in texts(at)


# ------------------------------------------------------------------ filled store
def test_compare_page_shows_curves_summary_and_verdicts(filled: FilledStore) -> None:
    at = run_page("compare", filled.settings.home)
    assert plotly_count(at) >= 3  # availability, latency, throughput
    frames = [df.value for df in at.dataframe]
    summary = frames[0]
    assert set(summary["topology"]) == {"centralized", "decentralized"}
    assert "TTR (s)" in summary.columns
    assert at.selectbox[1].value == filled.comparison_id
    # the hostile title is shown escaped by Streamlit (as text), never as HTML
    assert any(HOSTILE_TITLE in str(opt) for opt in at.selectbox[1].options)


def test_compare_page_with_an_unknown_comparison_in_the_query(filled: FilledStore) -> None:
    at = run_page("compare", filled.settings.home, query={"comparison": "c-does-not-exist"})
    assert "No comparison c-does-not-exist" in texts(at)
    assert plotly_count(at) >= 3


def test_compare_page_selects_the_comparison_from_the_query(filled: FilledStore) -> None:
    at = run_page("compare", filled.settings.home, query={"comparison": filled.comparison_id})
    assert at.selectbox[1].value == filled.comparison_id


@pytest.mark.parametrize("topology", ["centralized", "decentralized"])
def test_run_page_shows_timeline_heatmap_events_and_journal(filled: FilledStore, topology: str) -> None:
    at = run_page("run", filled.settings.home, query={"run": filled.run_ids[topology]})
    assert at.selectbox[0].value == filled.run_ids[topology]
    assert plotly_count(at) >= 5  # timeline, latency, throughput, agents heat map, events
    assert len(at.get("download_button")) == 1
    assert any("kind" in df.value.columns for df in at.dataframe)  # the event log table
    assert any("probe" in df.value.columns for df in at.dataframe)  # hypothesis results
    assert [m.label for m in at.metric][:2] == ["Resilience R", "TTR"]


@pytest.mark.parametrize("bad", ["'; DROP TABLE runs; --<script>x</script>", ""])
def test_run_page_with_bad_query_params(filled: FilledStore, bad: str) -> None:
    at = run_page("run", filled.settings.home, query={"run": bad})
    if bad:
        assert "No run" in texts(at)
    assert plotly_count(at) >= 1


def test_run_page_on_a_run_without_request_log_or_injection(filled: FilledStore) -> None:
    at = run_page("run", filled.settings.home, query={"run": filled.running_run_id})
    shown = texts(at)
    assert "no injection time" in shown
    assert "No event log" in shown


def test_live_page_lists_the_running_run(filled: FilledStore) -> None:
    at = run_page("live", filled.settings.home)
    shown = texts(at)
    assert "1 running run(s)" in shown
    assert "lab is not running" in shown


def test_history_page_lists_runs_comparisons_and_trends(filled: FilledStore) -> None:
    at = run_page("history", filled.settings.home)
    frames = [df.value for df in at.dataframe]
    assert len(frames[0]) == 3 and len(frames[1]) == 1
    assert plotly_count(at) == 2


def test_history_filters(filled: FilledStore) -> None:
    at = run_page("history", filled.settings.home)
    at.multiselect[1].select("centralized").run()
    assert not at.exception
    assert list(at.dataframe[0].value["topology"]) == ["centralized"]


# ------------------------------------------------------------------ chaos gate
@pytest.mark.parametrize("page", ["launch", "lab"])
def test_exposed_without_token_disables_chaos_pages(page: str, empty_home: Path) -> None:
    at = run_page(page, empty_home, host="0.0.0.0")
    assert "disabled" in texts(at) and "--token-file" in texts(at)
    assert not at.get("multiselect") and not at.button


@pytest.mark.parametrize("page", ["launch", "lab"])
def test_exposed_with_token_asks_for_it_and_unlocks(page: str, empty_home: Path) -> None:
    at = run_page(page, empty_home, host="127.0.0.2", token="s3cret-token")
    assert "enter its token" in texts(at)
    at.text_input[0].input("wrong-token")
    at.button[0].click().run()
    assert "Wrong token" in texts(at)
    at.text_input[0].input("s3cret-token")
    at.button[0].click().run()
    assert not at.exception
    assert "enter its token" not in texts(at)
    if page == "lab":
        assert "No lab is running" in texts(at)


@pytest.mark.parametrize("page,fmt", [("compare", "md"), ("run", "json")])
def test_a_report_is_built_and_offered_for_download(filled: FilledStore, page: str, fmt: str) -> None:
    query = {"comparison": filled.comparison_id} if page == "compare" else {"run": filled.run_ids["centralized"]}
    at = run_page(page, filled.settings.home, query=query)
    item = filled.comparison_id if page == "compare" else filled.run_ids["centralized"]
    at.selectbox(key=f"export_fmt_{item}").select(fmt).run()
    at.button(key=f"export_build_{item}").click().run()
    assert not at.exception and not at.error
    payload = at.session_state[f"export_{item}_{fmt}"]
    assert item.encode() in payload or (fmt == "md" and filled.comparison_id.encode() in payload)
    if fmt == "json":
        import json

        assert json.loads(payload)
