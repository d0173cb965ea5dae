"""AppTest of every page over a store filled by the real runner (tests/support/dashboard_fixtures.py), over an
empty store, with bad query parameters, a run held running for the Live page, and the chaos gate when the
dashboard is exposed beyond loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from presentation.answer import answer
from tests.support.dashboard_fixtures import HELD_TOPOLOGY, HOSTILE_TITLE, TOPOLOGIES, DashboardStore, HeldRun

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGES = ("overview", "compare", "run", "live", "lab", "launch", "history", "audit")
TIMEOUT = 120  # a loaded 2-core machine

# the first test that needs the store (or the held run) waits for the runner to make it
pytestmark = pytest.mark.timeout(900)


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


def charts(at: AppTest) -> dict[str, dict[str, Any]]:
    """Every Plotly chart of the page by its key, as the figure JSON the browser gets."""
    out = {}
    for el in at.get("plotly_chart"):
        key = str(el.proto.id).rsplit("-", 1)[-1]
        out[key] = json.loads(el.proto.spec)
    return out


def table_with(at: AppTest, column: str) -> Any:
    """The first table of the page with ``column`` (AppTest does not expose a dataframe's key)."""
    return next(df.value for df in at.dataframe if column in df.value.columns)


def trace_names(fig: dict[str, Any]) -> list[str]:
    return [str(t.get("name")) for t in fig["data"]]


@pytest.fixture
def empty_home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "nothing-here"  # a data directory that does not even exist


# ------------------------------------------------------------------ empty store
@pytest.mark.parametrize("page", PAGES)
def test_every_page_on_an_empty_store_says_what_to_do(page: str, empty_home: Path) -> None:
    at = run_page(page, empty_home)
    shown = texts(at)
    expected = {"overview": "No comparisons yet", "compare": "No comparisons yet", "run": "No runs yet",
                "live": "No experiment is running", "lab": "No lab is running. Start one with the form below",
                "launch": "", "history": "Nothing recorded yet", "audit": "The audit log is empty"}[page]
    assert expected in shown
    if page == "launch":  # the launch form: never an exception
        assert at.get("multiselect")


def test_app_router_opens_on_the_overview(empty_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AFTERSHOCK_HOME", str(empty_home))
    at = AppTest.from_file(APP, default_timeout=TIMEOUT).run()
    assert not at.exception
    assert at.title[0].value == "Overview"
    assert "No comparisons yet" in texts(at)
    assert at.button(key="emergency_stop")  # the stop is in the chrome of every page


# ------------------------------------------------------------------ a store filled by the runner
def test_overview_matrix_links_every_topology_to_its_comparison(dashboard_store: DashboardStore) -> None:
    at = run_page("overview", dashboard_store.home)
    shown = texts(at)
    link = f"/compare?comparison={dashboard_store.comparison_id}"
    assert shown.count(f"[open comparison]({link})") == len(TOPOLOGIES)
    for topo in TOPOLOGIES:
        r = dashboard_store.summary["summary"][topo]["metrics"]["resilience"]["median"]
        assert f"**R {r:.1f}**" in shown
    assert answer(dashboard_store.summary).sentence in shown  # the latest comparisons, with their answer


def test_compare_opens_on_the_answer_then_the_evidence(dashboard_store: DashboardStore) -> None:
    at = run_page("compare", dashboard_store.home, query={"comparison": dashboard_store.comparison_id})
    found = answer(dashboard_store.summary)
    assert found.sentence and found.sentence in [m.value for m in at.markdown]
    assert found.confidence in texts(at)
    figs = charts(at)
    avail = figs["cmp_availability"]
    runs = [t for t in avail["data"] if t.get("name") in TOPOLOGIES]
    assert {t["name"] for t in runs} == set(TOPOLOGIES) and all(t["line"]["shape"] == "hv" for t in runs)
    marked = [r for r in dashboard_store.summary["results"] if r["metrics"].get("ttd_s") is not None]
    if marked:
        assert "detected (TTD)" in trace_names(avail)
    if any(r["fault_windows"] for r in dashboard_store.summary["results"]):
        assert any(n.startswith("fault active") for n in trace_names(avail))
        assert any(s["type"] == "rect" for s in avail["layout"]["shapes"])
    assert {"cmp_latency", "cmp_throughput"} <= set(figs)
    summary = table_with(at, "TTR (s)")
    assert set(summary["topology"]) == set(TOPOLOGIES) and "TTR (s)" in summary.columns
    assert table_with(at, "TTD measured")["topology"].tolist()
    assert at.selectbox[1].value == dashboard_store.comparison_id
    assert any(HOSTILE_TITLE in str(opt) for opt in at.selectbox[1].options)  # text in a widget, not HTML


def test_compare_page_with_an_unknown_comparison_in_the_query(dashboard_store: DashboardStore) -> None:
    at = run_page("compare", dashboard_store.home, query={"comparison": "c-does-not-exist"})
    assert "No comparison c-does-not-exist" in texts(at)
    assert len(charts(at)) >= 3


@pytest.mark.parametrize("topology", TOPOLOGIES)
def test_run_page_shows_lanes_curves_agents_events_and_journal(dashboard_store: DashboardStore,
                                                               topology: str) -> None:
    run_id = dashboard_store.run_ids[topology]
    at = run_page("run", dashboard_store.home, query={"run": run_id})
    assert at.selectbox[0].value == run_id
    figs = charts(at)
    assert {"run_timeline", "run_latency", "run_throughput", "run_agents", "run_events"} <= set(figs)
    lanes = [y for t in figs["run_timeline"]["data"] if t["type"] == "bar" for y in t["y"]]
    assert any(lane.startswith("action · kill-one-agent-node") for lane in lanes)
    assert figs["run_agents"]["layout"]["yaxis"]["range"][0] <= 0
    assert len(at.get("download_button")) == 1
    assert len(table_with(at, "kind")) > 0  # the event log
    assert any("probe" in df.value.columns for df in at.dataframe)  # hypothesis results
    assert [m.label for m in at.metric][:3] == ["Resilience R", "Back to baseline after", "Detected after (TTD)"]


def test_run_page_event_log_is_searchable(dashboard_store: DashboardStore) -> None:
    at = run_page("run", dashboard_store.home, query={"run": dashboard_store.run_ids["centralized"]})
    everything = table_with(at, "kind")
    node = str(everything["node"].dropna().iloc[0])
    at.text_input(key="event_search").input(node).run()
    found = table_with(at, "kind")
    assert 0 < len(found) <= len(everything)
    assert found.astype(str).apply(lambda row: node.lower() in " ".join(row).lower(), axis=1).all()


@pytest.mark.parametrize("bad", ["'; DROP TABLE runs; --<script>x</script>", ""])
def test_run_page_with_bad_query_params(dashboard_store: DashboardStore, bad: str) -> None:
    at = run_page("run", dashboard_store.home, query={"run": bad})
    if bad:
        assert "No run" in texts(at)
    assert charts(at)


def test_history_lists_runs_and_trends_and_keeps_filters_in_the_url(dashboard_store: DashboardStore) -> None:
    at = run_page("history", dashboard_store.home, query={"topology": "centralized"})
    assert at.multiselect(key="history_topology").value == ["centralized"]
    runs = table_with(at, "repeat")
    assert set(runs["topology"]) == {"centralized"}
    assert dashboard_store.run_ids["centralized"] in " ".join(runs["link"])
    figs = charts(at)
    assert figs["hist_r"]["layout"]["xaxis"]["type"] == "date"
    at.multiselect(key="history_topology").select("decentralized").run()
    assert at.query_params["topology"] == ["centralized,decentralized"] or \
        at.query_params["topology"] == "centralized,decentralized"
    assert set(table_with(at, "repeat")["topology"]) == set(TOPOLOGIES)


# ------------------------------------------------------------------ a run held running by the runner
def test_live_page_draws_the_lab_of_a_run_started_by_the_runner(held_run: HeldRun) -> None:
    at = run_page("live", held_run.store.home)
    shown = texts(at)
    assert f"on {HELD_TOPOLOGY}" in " ".join(h.value for h in at.subheader)
    assert held_run.lab in shown and "Its lab is not running" not in shown
    figs = charts(at)
    i = next(k for k in figs if k.startswith("live_lab_") and held_run.lab in json.dumps(figs[k]["layout"]["title"]))
    lab = figs[i]
    dead = next(t for t in lab["data"] if t.get("name") == "dead")
    assert dead["x"] and dead["x"][0] is not None  # the killed node is drawn dead
    avail = figs[i.replace("live_lab_", "live_avail_")]
    assert any(n.startswith("fault active") for n in trace_names(avail))  # the held fault, shaded so far


def test_run_page_of_the_running_run(held_run: HeldRun) -> None:
    at = run_page("run", held_run.store.home, query={"run": held_run.run_id})
    assert "still going" in texts(at)
    assert charts(at)


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
def test_a_report_is_built_and_offered_for_download(dashboard_store: DashboardStore, page: str, fmt: str) -> None:
    item = dashboard_store.comparison_id if page == "compare" else dashboard_store.run_ids["centralized"]
    query = {"comparison": item} if page == "compare" else {"run": item}
    at = run_page(page, dashboard_store.home, query=query)
    at.selectbox(key=f"export_fmt_{item}").select(fmt).run()
    at.button(key=f"export_build_{item}").click().run()
    assert not at.exception and not at.error
    payload = at.session_state[f"export_{item}_{fmt}"]
    assert item.encode() in payload
    if fmt == "json":
        assert json.loads(payload)
