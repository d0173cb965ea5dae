"""The emergency stop and the audit page in the dashboard (AppTest, no lab): set, audited with the session, cleared;
behind the token beyond loopback. The real-browser test against a partitioned lab is in tests/e2e/test_safety.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.audit import read_audit, record
from core.errors import EmergencyStopped
from core.settings import Settings
from core.stop import set_stop, stop_state
from dashboards.launcher import launch

TIMEOUT = 60


def chrome_script(home: str, host: str = "127.0.0.1", token: str | None = None) -> None:
    """The common chrome of app.py (the sidebar stop) and the audit page, with a config built as app.py does."""
    from dashboards import stop
    from dashboards.config import config_from_environ
    from dashboards.pages import audit

    env = {"AFTERSHOCK_HOME": home, "AFTERSHOCK_DASHBOARD_HOST": host}
    if token:
        env["AFTERSHOCK_DASHBOARD_TOKEN"] = token
    config = config_from_environ(env)
    stop.render(config)
    audit.render(config)


def run(home: Path, **kw: str) -> AppTest:
    at = AppTest.from_function(chrome_script, kwargs={"home": str(home), **kw}, default_timeout=TIMEOUT)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def button(at: AppTest, label: str):
    found = [b for b in at.sidebar.button if b.label == label]
    assert found, f"no {label!r} button; sidebar has {[b.label for b in at.sidebar.button]}"
    return found[0]


def test_the_button_sets_the_stop_audits_the_session_and_clears_it(tmp_path: Path) -> None:
    home = tmp_path / "home"
    at = run(home)
    assert "empty" in at.info[0].value
    button(at, "Emergency stop").click().run()
    assert not at.exception
    state = stop_state(home)
    assert state is not None and state.who.startswith("dashboard session ")
    assert any("in force" in e.value for e in at.sidebar.error)
    assert any("Stopped" in s.value for s in at.sidebar.success)
    stops = read_audit(home, actions={"stop"})[0]
    assert [e.who for e in stops] == [state.who]
    assert "stop" in set(at.dataframe[0].value["action"])

    button(at, "Clear the emergency stop").click().run()
    assert stop_state(home) is None
    assert [e.action for e in read_audit(home)[0]] == ["stop", "clear"]


def test_beyond_loopback_the_stop_needs_the_token(tmp_path: Path) -> None:
    home = tmp_path / "home"
    at = run(home, host="0.0.0.0", token="a-long-token")
    assert not [b for b in at.sidebar.button if b.label == "Emergency stop"]
    at.sidebar.text_input[0].input("wrong-token").run()
    assert any("Wrong token" in e.value for e in at.sidebar.error) and stop_state(home) is None
    at.sidebar.text_input[0].input("a-long-token").run()
    button(at, "Emergency stop").click().run()
    assert stop_state(home) is not None
    at = run(home, host="0.0.0.0")  # exposed, no token configured: disabled, with the reason
    assert not at.sidebar.button and any("no token is configured" in c.value for c in at.sidebar.caption)


def test_the_audit_page_keeps_hostile_strings_as_text_and_reports_torn_lines(tmp_path: Path) -> None:
    home = tmp_path / "home"
    record(home, "inject", "user <script>alert(1)</script>", target="<img src=x onerror=alert(1)>")
    with open(home / "audit.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"ts": 1, "act')
    at = run(home)
    frame = at.dataframe[0].value
    assert frame["target"].iloc[0] == "<img src=x onerror=alert(1)>"
    assert any("1 unreadable line" in w.value for w in at.warning)


def test_a_launch_under_the_stop_is_refused_with_one_line_and_nothing_started(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    set_stop(settings.home, "user alice")
    started: list[object] = []
    with pytest.raises(EmergencyStopped) as refused:
        launch(settings, "node-loss", ["decentralized"], popen=lambda *a, **k: started.append(a))
    assert "launch refused" in str(refused.value) and "\n" not in str(refused.value)
    assert started == [] and not (settings.home / "dashboard").exists()
