"""Figure builders, frames, downsampling, auth and the dashboard CLI, tested directly (no Streamlit run)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from core.errors import UserError
from core.settings import Settings
from dashboards.auth import chaos_access, token_matches
from dashboards.config import DashboardConfig, config_from_environ
from dashboards.launcher import launch
from dashboards.server import dashboard_env, read_token, streamlit_argv
from presentation import figures, frames
from presentation.downsample import downsample_xy

HOSTILE = '<img src=x onerror=alert(1)>'


def curves(n: int, topologies: tuple[str, ...] = ("centralized", "decentralized")) -> pd.DataFrame:
    t = np.arange(n, dtype=float) - n / 2
    parts = []
    for i, topo in enumerate(topologies):
        a = np.ones(n)
        a[n // 2: n // 2 + 10 + i] = 0.2
        parts.append(pd.DataFrame({"topology": topo, "run_id": f"r-{i}", "t": t, "availability": a,
                                   "ok_per_s": a * 40, "failed_per_s": (1 - a) * 40, "p50": a, "p99": 2 * a}))
    return pd.concat(parts, ignore_index=True)


def test_downsampling_keeps_extremes_and_reduces_a_million_points() -> None:
    x = np.arange(1_000_000, dtype=float)
    y = np.sin(x / 5000.0)
    y[123_457], y[876_543] = 25.0, -30.0  # one-sample spikes must survive
    xs, ys = downsample_xy(x, y, max_points=2000)
    assert len(xs) <= 2000
    assert ys.max() == 25.0 and ys.min() == -30.0
    assert np.all(np.diff(xs) > 0)


def test_downsampling_leaves_short_series_and_handles_nan() -> None:
    x, y = np.arange(100.0), np.linspace(0, 1, 100)
    assert len(downsample_xy(x, y)[0]) == 100
    y = np.sin(np.arange(50_000) / 100.0)
    y[::7] = np.nan
    xs, ys = downsample_xy(np.arange(50_000.0), y, max_points=1000)
    assert len(xs) <= 1000 and np.nanmax(ys) > 0.99


def test_availability_figure_overlays_runs_shades_faults_and_downsamples() -> None:
    data = curves(200_000)
    windows = pd.DataFrame({"topology": ["centralized"], "start": [0.0], "end": [12.0]})
    fig = figures.availability_figure(data, windows)
    runs = [tr for tr in fig.data if tr.name in ("centralized", "decentralized")]
    assert len(runs) == 2 and all(tr.line.shape == "hv" for tr in runs)  # steps: a bin is an interval
    assert all(len(tr.x) <= 2000 for tr in runs)
    assert min(np.min(tr.y) for tr in runs) == pytest.approx(0.2)  # the dip survives downsampling
    assert any(s.type == "rect" for s in fig.layout.shapes)
    assert any(str(tr.name).startswith("fault active") for tr in fig.data)  # the shading is named in the legend
    full = figures.availability_figure(data, windows, max_points=None)
    assert len(full.to_json()) > 5 * len(fig.to_json())


def test_figures_escape_user_strings() -> None:
    data = curves(50, topologies=(HOSTILE,))
    payload = figures.availability_figure(data).to_json() + figures.metric_figure(
        data, ["p50", "p99"], title=HOSTILE, yaxis="s").to_json()
    assert "<img" not in payload and "&lt;img" in payload


def test_metric_figure_and_empty_states() -> None:
    fig = figures.metric_figure(curves(100), ["p50", "p99"], title="Latency", yaxis="s")
    assert len(fig.data) == 4
    for fig in (figures.availability_figure(pd.DataFrame()), figures.agents_heatmap(pd.DataFrame()),
                figures.events_figure(pd.DataFrame()), figures.lab_figure(pd.DataFrame(), pd.DataFrame()),
                figures.fragility_figure(pd.DataFrame()), figures.run_timeline_figure(pd.DataFrame(), pd.DataFrame())):
        assert fig.layout.annotations and not fig.data


def test_run_timeline_puts_every_activity_in_its_own_lane() -> None:
    acts = frames.timeline_frame([{"name": "kill <b>n1</b>", "type": "action", "start": 105.0, "end": 105.1},
                                  {"name": "probe", "type": "probe", "start": 90.0, "end": None},
                                  {"name": "heal", "type": "rollback", "start": 105.1, "end": 105.2}], t0=100.0)
    fig = figures.run_timeline_figure(curves(40).query("run_id == 'r-0'"), acts)
    lanes = [y for tr in fig.data if tr.type == "bar" for y in tr.y]
    assert sorted(lanes) == sorted(["action · kill &lt;b&gt;n1&lt;/b&gt;", "probe · probe", "rollback · heal"])
    assert not fig.layout.annotations  # names on the lane axis, never as overprinting annotations
    bars = {y: (b, x) for tr in fig.data if tr.type == "bar" for y, b, x in zip(tr.y, tr.base, tr.x, strict=True)}
    assert bars["probe · probe"][0] == pytest.approx(-10.0) and bars["probe · probe"][1] >= 0.25  # still visible


def test_agents_heatmap_sums_nodes_per_region_without_hubs() -> None:
    rows = [(t, "aftershock_agents_alive", v, node, region, role) for t in (0.0, 1.0, 2.0)
            for node, region, role, v in (("a1", "us", "agent", 3.0), ("a2", "us", "agent", 3.0 if t < 1 else 0.0),
                                          ("b1", "eu", "agent", 3.0), ("hub", "us", "hub", 6.0))]
    series = pd.DataFrame(rows, columns=["ts", "metric", "value", "node", "region", "role"])
    agents = frames.agents_by_region(series, t0=1.0)
    us = agents[agents["region"] == "us"].set_index("t")["agents"]
    assert us[-1.0] == 6 and us[0.0] == 3
    fig = figures.agents_figure(agents)
    assert sorted(tr.name for tr in fig.data) == ["eu", "us"]
    assert fig.layout.yaxis.range[0] <= 0  # 0-based: a dead region sits on the zero line


def test_lab_figure_colours_nodes_by_health() -> None:
    status = {"nodes": [{"name": "us-n1", "region": "us", "role": "agent", "alive": True,
                         "agents": [{"alive": True}]},
                        {"name": "us-n2", "region": "us", "role": "agent", "alive": False, "agents": []},
                        {"name": "eu-hub", "region": "eu", "role": "hub", "alive": True, "paused": True}],
              "links": [{"src": "eu", "dst": "us", "latency_ms": 40, "loss": 0, "cut": True}]}
    fig = figures.lab_figure(frames.nodes_frame(status), frames.links_frame(status))
    names = {tr.name for tr in fig.data if tr.name}
    assert names == {"alive", "dead", "paused"}
    assert any("CUT" in str(a.text) for a in fig.layout.annotations)
    dead = next(tr for tr in fig.data if tr.name == "dead")
    assert dead.text == ("n2",)  # an agent node without agents shows no "0/0"
    alive = next(tr for tr in fig.data if tr.name == "alive")
    assert "n1<br>1/1" in alive.text


def test_summary_and_fragility_frames() -> None:
    summary = {"summary": {"decentralized": {"runs": 3, "runs_used": 3, "metrics": {
        "ttr_s": {"n": 3, "censored": 1, "median": 4.0, "ci_low": 3.0, "ci_high": None, "high_censored": True},
        "resilience": {"n": 3, "median": 97.5, "ci_low": 95.0, "ci_high": 99.0}}}},
        "results": [{"topology": "d", "intensity": k, "metrics": {"resilience": 100 - 10 * k * k}} for k in (0, 1, 2)],
        "verdicts": [{"metric": "ttr_s", "topologies": ["a", "b"], "outcome": "no_clear_difference", "text": "x"}]}
    table = frames.summary_table(summary)
    assert table.loc[0, "TTR (s)"] == "4.0 [3.0, > window]"
    assert table.loc[0, "R (0-100)"] == "97.5 [95.0, 99.0]"
    assert table.loc[0, "not self-healed"] == 1
    assert frames.verdicts_table(summary).loc[0, "outcome"] == "no clear difference"
    points = frames.fragility_points(summary)
    assert list(frames.fragility_shapes(points)["shape"]) == ["fragile"]
    assert len(figures.fragility_figure(points, frames.fragility_shapes(points)).data) == 2


def test_trend_figure_one_line_per_experiment_and_topology() -> None:
    trends = pd.DataFrame({"experiment": ["e"] * 4, "topology": ["a", "a", "b", "b"],
                           "created_at": [1.7e9, 1.7e9 + 3600] * 2, "resilience": [90.0, 91, 80, 70]})
    assert len(figures.trend_figure(trends, "resilience", title="R").data) == 2


# ------------------------------------------------------------------ auth and configuration
@pytest.mark.parametrize("host,exposed", [("127.0.0.1", False), ("localhost", False), ("::1", False),
                                          ("[::1]", False), ("127.0.0.2", True), ("0.0.0.0", True)])
def test_exposed_means_not_exactly_loopback(host: str, exposed: bool) -> None:
    assert DashboardConfig(Settings(home=Path("/x")), host=host).exposed is exposed


def test_chaos_access_rules() -> None:
    home = Settings(home=Path("/x"))
    assert chaos_access(DashboardConfig(home), None).allowed
    off = chaos_access(DashboardConfig(home, host="0.0.0.0"), "anything")
    assert not off.allowed and not off.needs_token and "--token-file" in off.reason
    guarded = DashboardConfig(home, host="10.0.0.5", token="tok-123456")
    assert chaos_access(guarded, "tok-123456").allowed
    assert chaos_access(guarded, "tok-12345").needs_token
    assert not token_matches(None, None) and not token_matches("", "") and token_matches("é-tok", "é-tok")


def test_config_from_environ_reads_home_host_and_token() -> None:
    cfg = config_from_environ({"AFTERSHOCK_HOME": "/data/a", "AFTERSHOCK_DASHBOARD_HOST": "0.0.0.0",
                               "AFTERSHOCK_DASHBOARD_TOKEN": " t0k3n-xyz "})
    assert cfg.settings.home == Path("/data/a") and cfg.exposed and cfg.token == "t0k3n-xyz"
    assert config_from_environ({"AFTERSHOCK_HOME": "/d"}).token is None


def test_cli_builds_streamlit_command_and_env(tmp_path: Path) -> None:
    argv = streamlit_argv("127.0.0.1", 8765, python="py")
    assert argv[:4] == ["py", "-m", "streamlit", "run"] and argv[4].endswith("app.py")
    assert "--server.headless" in argv and argv[argv.index("--browser.gatherUsageStats") + 1] == "false"
    env = dashboard_env(Settings(home=tmp_path), "0.0.0.0", None, {"AFTERSHOCK_DASHBOARD_TOKEN": "leak", "A": "1"})
    assert env["AFTERSHOCK_HOME"] == str(tmp_path) and "AFTERSHOCK_DASHBOARD_TOKEN" not in env and env["A"] == "1"
    token = tmp_path / "token"
    token.write_text("a-long-token\n")
    assert read_token(token, {}) == "a-long-token"
    assert read_token(None, {"AFTERSHOCK_DASHBOARD_TOKEN": "env-token"}) == "env-token"
    token.write_text("short")
    with pytest.raises(UserError):
        read_token(token, {})
    with pytest.raises(UserError):
        read_token(tmp_path / "missing", {})


def test_launch_only_accepts_library_experiments(tmp_path: Path) -> None:
    calls: list[list[str]] = []

    class FakeProc:
        pid = 4242

        def poll(self) -> int:
            return 0

    def fake_popen(argv: list[str], **kwargs: object) -> FakeProc:
        calls.append(argv)
        return FakeProc()

    settings = Settings(home=tmp_path)
    for bad in ("/etc/passwd", "../chaos/experiments/node-loss.yaml", "node-loss; rm -rf /"):
        with pytest.raises(UserError):
            launch(settings, bad, ["centralized"], popen=fake_popen)
    with pytest.raises(UserError):
        launch(settings, "node-loss", ["no-such-topology"], popen=fake_popen)
    with pytest.raises(UserError):
        launch(settings, "node-loss", ["centralized"], repeat=0, popen=fake_popen)
    assert not calls
    record = launch(settings, "node-loss", ["centralized"], 2, warmup_s=2, observe_s=3, python="py", popen=fake_popen)
    assert calls == [["py", "-m", "aftershock.cli", "run", "node-loss", "--topology", "centralized", "--repeat", "2",
                      "--warmup", "2", "--observe", "3", "--json"]]
    assert json.loads(Path(record.stdout).with_suffix(".meta.json").read_text())["pid"] == 4242
