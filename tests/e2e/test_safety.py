"""Chaos that can always be stopped, seen from outside the lab (traffic crossing a cut link again):

- ``aftershock stop --all`` reverts a long partition within 2 s of being called, the running experiment ends
  aborted with its rollbacks run, new runs are refused until ``--clear``;
- the dashboard's stop button does the same, clicked in Chromium;
- the runner killed -9 mid-fault: the dead-man heals within 5 s, no process is left, ``aftershock runs --json``
  shows the run interrupted;
- a plain ``chaos run`` hung (SIGSTOP) or killed -9 mid-fault against a long-lived lab: the dead-man heals the
  partition within 5 s and the lab keeps serving.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from collectors.promserver import free_port
from core.audit import read_audit
from core.settings import Settings
from core.stop import clear_stop, stop_state
from core.wait import wait_until
from fleet.lab import ControlClient, lab_down, list_labs
from store import RunStore
from tests.support.safety import (
    alive,
    check_bound,
    crosses,
    events,
    home_pids,
    lab_cut,
    wait_crossing,
    write_partition,
)

ROOT = Path(__file__).resolve().parents[2]
CHAOS = Path(sys.executable).with_name("chaos")
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
STOP_BOUND_S = 2.0
DEADMAN_BOUND_S = 5.0
SRC, DST = "us-east", "eu-west"


def env_for(settings: Settings, **extra: str) -> dict[str, str]:
    env = {**os.environ, "AFTERSHOCK_HOME": str(settings.home), **extra}
    env.pop("AFTERSHOCK_DASHBOARD_TOKEN", None)
    return env


@pytest.fixture
def spawn(settings: Settings) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start processes that are always ended (and every lab under the home brought down), even on failure."""
    procs: list[subprocess.Popen] = []

    def start(argv: list[str], **kwargs: object) -> subprocess.Popen:
        kwargs.setdefault("env", env_for(settings))
        kwargs.setdefault("cwd", str(ROOT))
        kwargs.setdefault("stdin", subprocess.DEVNULL)
        proc = subprocess.Popen(argv, **kwargs)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
        proc.wait(30)
    clear_stop(settings.home)
    for lab in list_labs(settings):
        lab_down(settings, lab["name"])


def cli(settings: Settings, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "aftershock", *args], env=env_for(settings), cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout)


def runner_argv(experiment: Path) -> list[str]:
    return [sys.executable, "-m", "aftershock.cli", "run", str(experiment), "-t", "decentralized", "--warmup", "2",
            "--observe", "2", "--json"]


def test_stop_all_reverts_a_long_partition_within_2_s_aborts_the_run_and_refuses_new_ones(
        settings: Settings, tmp_path: Path, spawn: Callable[..., subprocess.Popen]) -> None:
    experiment = write_partition(tmp_path / "partition.yaml", SRC, DST, hold_s=300)
    runner = spawn(runner_argv(experiment), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    status = wait_until(lambda: lab_cut(settings.home), 120, interval_s=0.2, what="the partition")
    assert not crosses(status, SRC, DST), "the partition black-holes traffic"
    pids = home_pids(settings.home)

    called = time.time()
    stop = spawn([sys.executable, "-m", "aftershock", "stop", "--all", "--json", "--wait", "60"],
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    crossed = wait_crossing(status, SRC, DST, timeout_s=30)
    check_bound(crossed - called, STOP_BOUND_S, "aftershock stop --all: traffic crosses again after the call")

    out, err = stop.communicate(timeout=90)
    assert stop.returncode == 0, err
    report = json.loads(out)
    # healed, or already down by its aborted run; or gone before the stop listed the labs at all (the run sees the
    # stop file, rolls back and takes its lab down in well under a second)
    assert [h["ok"] for h in report["labs"]] in ([True], []), report
    assert report["who"].startswith("user ")
    assert [r["status"] for r in report["runs_ended"]] == ["aborted"]
    run_out, run_err = runner.communicate(timeout=90)
    assert runner.returncode == 0, run_err
    run_id = report["runs_ended"][0]["run_id"]
    with RunStore.open(settings.store_dir, readonly=True) as store:
        run = store.get_run(run_id)
        assert run.status == "aborted" and "emergency stop" in run.meta["aborted_reason"]
        assert [r["activity"]["name"] for r in store.get_journal(run_id)["rollbacks"]] == ["heal-links",
                                                                                          "heal-the-lab"]
    wait_until(lambda: not alive(pids), 30, what="every lab process to end")

    refused = cli(settings, "run", str(experiment), "-t", "decentralized")
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.count("\n") == 1 and "aftershock stop --clear" in refused.stderr
    assert not list((settings.labs_dir).glob("*/state.json")) or not list_labs(settings)

    cleared = cli(settings, "stop", "--clear")
    assert cleared.returncode == 0 and stop_state(settings.home) is None
    actions = [(e.action, e.who.split()[0]) for e in read_audit(settings.home)[0]]
    assert ("inject", "user") in actions and ("stop", "user") in actions and ("clear", "user") in actions
    assert actions.index(("stop", "user")) < actions.index(("clear", "user"))
    assert sum(a == "rollback" for a, _ in actions) >= 2  # the experiment's rollbacks, audited


def test_runner_killed_9_mid_fault_dead_man_heals_within_5_s_and_nothing_is_left(
        settings: Settings, tmp_path: Path, spawn: Callable[..., subprocess.Popen]) -> None:
    experiment = write_partition(tmp_path / "partition.yaml", SRC, DST, hold_s=300)
    runner = spawn(runner_argv(experiment), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until(lambda: lab_cut(settings.home), 120, interval_s=0.2, what="the partition")
    pids = home_pids(settings.home)
    killed = time.time()
    os.kill(runner.pid, signal.SIGKILL)
    runner.wait(10)

    healed = wait_until(lambda: events(settings.home, "deadman_healed"), 10, what="the dead-man's heal")[0]
    check_bound(healed["ts"] - killed, DEADMAN_BOUND_S, "runner kill -9: the dead-man's heal after the kill")
    assert sorted(healed["detail"]["faults"]) == sorted(f"link:{a}->{b}" for a, b in ((SRC, DST), (DST, SRC)))
    links = [e for e in events(settings.home, "link_changed") if e["ts"] >= killed]
    assert {(e["detail"]["src"], e["detail"]["dst"]) for e in links if not e["detail"]["cut"]} == {(SRC, DST),
                                                                                                  (DST, SRC)}
    wait_until(lambda: not alive(pids), 15, what="every lab process to end")
    listed = cli(settings, "runs", "--json")
    assert listed.returncode == 0, listed.stderr
    assert [r["status"] for r in json.loads(listed.stdout)] == ["interrupted"]
    deadman = read_audit(settings.home, actions={"deadman"})[0]
    assert len(deadman) == 1 and deadman[0].detail["controller_pid"] == runner.pid


def _chaos_run(spawn: Callable[..., subprocess.Popen], settings: Settings, experiment: Path,
               lab: str) -> subprocess.Popen:
    return spawn([str(CHAOS), "--no-version-check", "run", "--rollback-strategy", "always", str(experiment)],
                 env=env_for(settings, AFTERSHOCK_LAB=lab), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _cut(client: ControlClient) -> bool:
    return any(li["cut"] for li in client.status()["links"])


def test_a_hung_or_killed_chaos_run_has_its_partition_healed_by_the_dead_man_and_the_lab_goes_on(
        settings: Settings, tmp_path: Path, lab, spawn: Callable[..., subprocess.Popen]) -> None:
    status = lab("decentralized", name="deadman")
    client = ControlClient.for_lab(status, timeout_s=5)
    experiment = write_partition(tmp_path / "partition.yaml", SRC, DST, hold_s=300)
    for sig, what in ((signal.SIGSTOP, "hung"), (signal.SIGKILL, "killed -9")):
        controller = _chaos_run(spawn, settings, experiment, status["name"])
        wait_until(lambda: _cut(client), 60, interval_s=0.1, what="the partition")
        assert not crosses(status, SRC, DST)
        struck = time.time()
        os.kill(controller.pid, sig)
        crossed = wait_crossing(status, SRC, DST, timeout_s=30)
        reverted = [e.ts for e in read_audit(settings.home, actions={"deadman"})[0] if e.ts >= struck]
        assert reverted, "the dead-man's revert is audited"
        check_bound(reverted[0] - struck, DEADMAN_BOUND_S, f"chaos run {what}: the dead-man reverts the partition")
        check_bound(crossed - struck, DEADMAN_BOUND_S, f"chaos run {what}: traffic crosses again")
        os.kill(controller.pid, signal.SIGCONT)
        controller.kill()
        controller.wait(10)
    assert [lab_["name"] for lab_ in list_labs(settings)] == ["deadman"], "the lab itself keeps running"
    assert len(read_audit(settings.home, actions={"deadman"})[0]) == 2
    with RunStore.open(settings.store_dir, readonly=True) as store:  # the recording control's runs
        assert set(store.list_runs()["status"]) == {"interrupted"}


def test_the_dashboard_stop_button_reverts_a_partition_within_2_s(
        settings: Settings, lab, spawn: Callable[..., subprocess.Popen]) -> None:
    if not CHROMIUM.exists():
        if os.environ.get("AFTERSHOCK_REQUIRE_BROWSER") == "1":
            pytest.fail(f"AFTERSHOCK_REQUIRE_BROWSER=1 but {CHROMIUM} is missing")
        pytest.skip(f"{CHROMIUM} is missing")
    from playwright.sync_api import sync_playwright  # imported once the browser is known to be there

    status = lab("decentralized", name="button")
    port = free_port()
    spawn([sys.executable, "-m", "aftershock.cli", "dashboard", "--port", str(port)],
          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = ControlClient.for_lab(status, timeout_s=5)
    client.set_link(SRC, DST, cut=True)  # a fault made by hand, outside any experiment: the stop reverts it too
    client.set_link(DST, SRC, cut=True)
    assert not crosses(status, SRC, DST)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)
            wait_until(lambda: _serving(port), 60, interval_s=0.2, what="the dashboard")
            page.goto(f"http://127.0.0.1:{port}/live")
            button = page.get_by_role("button", name="Emergency stop")
            button.wait_for()
            clicked = time.time()
            button.click()
            crossed = wait_crossing(status, SRC, DST, timeout_s=30)
            page.get_by_text("emergency stop in force").first.wait_for()
            page.get_by_role("button", name="Clear the emergency stop").wait_for()
        finally:
            browser.close()
    check_bound(crossed - clicked, STOP_BOUND_S, "dashboard stop button: traffic crosses again after the click")
    state = stop_state(settings.home)
    assert state is not None and state.who.startswith("dashboard session ")
    assert [e.who for e in read_audit(settings.home, actions={"stop"})[0]] == [state.who]


def _serving(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=2).ok
    except requests.RequestException:
        return False
