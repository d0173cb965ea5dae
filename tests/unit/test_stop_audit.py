"""The stop file and the audit log: the two files every safety feature relies on (no process needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.audit import ACTIONS, AuditLog, actor, read_audit, record
from core.errors import EmergencyStopped, UserError
from core.settings import Settings, max_fault_from_env
from core.stop import check_not_stopped, clear_stop, set_stop, stop_path, stop_state
from scheduling import RunResult, Schedule, ScheduleBook, run_attempt


def test_no_stop_by_default_and_set_clear_round_trip(tmp_path: Path) -> None:
    assert stop_state(tmp_path) is None
    check_not_stopped(tmp_path, "run")  # nothing raised
    state = set_stop(tmp_path, "user alice", "bad deploy")
    assert stop_path(tmp_path).exists() and state.who == "user alice"
    again = set_stop(tmp_path, "user bob")
    assert again == state, "a second stop keeps the first one's author and time"
    with pytest.raises(EmergencyStopped) as err:
        check_not_stopped(tmp_path, "run")
    message = str(err.value)
    assert "\n" not in message and "user alice" in message and "aftershock stop --clear" in message
    assert isinstance(err.value, UserError) and err.value.exit_code == 2
    assert clear_stop(tmp_path) == state
    assert stop_state(tmp_path) is None and clear_stop(tmp_path) is None


@pytest.mark.parametrize("content", ["", "not json", "[1, 2]", '{"since": "x"}', "\x00\xff"])
def test_a_stop_file_made_by_hand_or_garbled_still_stops(tmp_path: Path, content: str) -> None:
    stop_path(tmp_path).write_text(content, encoding="utf-8", errors="surrogateescape")
    state = stop_state(tmp_path)
    assert state is not None and state.who == "unknown"
    with pytest.raises(EmergencyStopped):
        check_not_stopped(tmp_path, "chaos")
    replaced = set_stop(tmp_path, "user carol")
    assert replaced.who == "user carol", "a proper stop replaces an anonymous one"


def test_settings_expose_the_files_and_the_fault_cap() -> None:
    settings = Settings(home=Path("/h"))
    assert settings.stop_file == Path("/h/EMERGENCY_STOP") and settings.audit_log == Path("/h/audit.jsonl")
    assert Settings.from_env({"AFTERSHOCK_HOME": "/x", "AFTERSHOCK_MAX_FAULT_S": "60"}).max_fault_s == 60.0
    assert max_fault_from_env({}) == settings.max_fault_s


@pytest.mark.parametrize("raw", ["0", "-5", "nan", "inf", "1e9", "ten"])
def test_a_bad_fault_cap_is_one_line(raw: str) -> None:
    with pytest.raises(UserError, match="AFTERSHOCK_MAX_FAULT_S") as err:
        max_fault_from_env({"AFTERSHOCK_MAX_FAULT_S": raw})
    assert "\n" not in str(err.value)


def test_audit_appends_and_reads_back_in_order(tmp_path: Path) -> None:
    clock = iter(range(100, 200)).__next__
    audit = AuditLog(tmp_path, clock=lambda: float(clock()))
    audit.append("inject", "user alice", run="r-1", lab="mesh", target="eu-west->*", action_name="partition")
    audit.append("rollback", "user alice", run="r-1", lab="mesh", target="all")
    audit.append("stop", "dashboard session abc", target="all")
    entries, bad = audit.read()
    assert bad == 0
    assert [(e.ts, e.action, e.who) for e in entries] == [
        (100.0, "inject", "user alice"), (101.0, "rollback", "user alice"), (102.0, "stop", "dashboard session abc")]
    assert entries[0].detail == {"action_name": "partition"} and entries[0].target == "eu-west->*"
    assert [e.action for e in audit.read(limit=1)[0]] == ["stop"]
    assert [e.action for e in audit.read(actions={"inject", "stop"})[0]] == ["inject", "stop"]
    assert oct(audit.path.stat().st_mode & 0o777) == "0o600"


def test_audit_skips_a_torn_last_line_and_keeps_every_line_bounded(tmp_path: Path) -> None:
    record(tmp_path, "inject", "user a", target="x", output="y" * 100_000)
    with open(tmp_path / "audit.jsonl", "a", encoding="utf-8") as fh:
        fh.write('{"ts": 1, "action": "inj')  # a writer killed mid-line
    entries, bad = read_audit(tmp_path)
    assert bad == 1 and len(entries) == 1
    lines = (tmp_path / "audit.jsonl").read_text().splitlines()
    assert len(lines[0]) <= 8192 and json.loads(lines[0])["detail"]["truncated"]


def test_audit_refuses_unknown_actions_and_never_raises_on_io_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        AuditLog(tmp_path).append("explode", "user a")
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert record(blocker, "stop", "user a") is None  # home is a file: logged, not raised
    assert "deadman" in ACTIONS and "clear" in ACTIONS


@pytest.mark.parametrize(("env", "who"), [
    ({"AFTERSHOCK_ACTOR": "dashboard session s1"}, "dashboard session s1"),
    ({"AFTERSHOCK_SCHEDULE": "nightly"}, "schedule nightly"),
    ({"AFTERSHOCK_ACTOR": "  ", "AFTERSHOCK_SCHEDULE": "nightly"}, "schedule nightly"),
])
def test_who_comes_from_the_environment_of_the_boundary(env: dict[str, str], who: str) -> None:
    assert actor(env) == who
    assert actor({}).startswith("user ")


def test_a_scheduled_run_is_skipped_under_the_stop_and_runs_once_cleared(settings: Settings) -> None:
    calls: list[str] = []

    def run(schedule: Schedule, _settings: Settings, _fds: object = ()) -> RunResult:
        calls.append(schedule.name)
        return RunResult(True, {"comparison_id": "c-1", "results": [], "runs": []})

    with ScheduleBook.open(settings.home) as book:
        book.add(Schedule(name="nightly", cron="0 3 * * *", experiment="node-loss", topologies=["decentralized"],
                          created_at=1_000.0))
        schedule = book.get("nightly")
        set_stop(settings.home, "user alice")
        attempt = run_attempt(book, settings, schedule, 5_000.0, run)
        assert attempt.outcome == "skipped" and "emergency stop" in attempt.reason and calls == []
        refused = read_audit(settings.home, actions={"refused"})[0]
        assert [(e.who, e.target) for e in refused] == [("schedule nightly", "node-loss")]
        clear_stop(settings.home)
        assert run_attempt(book, settings, schedule, 5_060.0, run).outcome == "completed" and calls == ["nightly"]
