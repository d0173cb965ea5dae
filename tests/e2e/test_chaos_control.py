"""The recording control end to end: a plain `chaos run` against a live lab lands in the run store.

Runs the real ``chaos`` command line in a subprocess with ``AFTERSHOCK_HOME`` pointing at the test's data
directory; one lab is shared by the module and always brought down.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from chaos import probes
from core.settings import Settings
from core.wait import wait_until
from fleet.lab import ControlClient, lab_down, lab_up, list_labs
from store import RunStore
from tests.conftest import topology_for_tests

pytestmark = [pytest.mark.lab, pytest.mark.timeout(120)]

CHAOS = Path(sys.executable).parent / "chaos"


def experiment(fault_s: float) -> dict[str, Any]:
    """Kill one node, keep it dead ``fault_s``, heal: short, so the suite stays quick."""
    python = {"type": "python"}
    return {
        "version": "1.0.0", "title": "short node loss", "description": "test",
        "configuration": {"aftershock_experiment": "short-node-loss",
                          "aftershock_lab": {"type": "env", "key": "AFTERSHOCK_LAB", "default": ""}},
        "controls": [{"name": "recorder", "provider": {**python, "module": "chaos.control"}}],
        "steady-state-hypothesis": {"title": "served", "probes": [
            {"name": "availability", "type": "probe", "tolerance": {"type": "range", "range": [0.8, 1.0]},
             "provider": {**python, "module": "chaos.probes", "func": "availability", "arguments": {"window_s": 3}}}]},
        "method": [
            {"name": "kill-one-node", "type": "action", "pauses": {"before": 1, "after": fault_s},
             "provider": {**python, "module": "chaos.actions", "func": "kill_node",
                          "arguments": {"role": "agent", "count": 1, "seed": 3}}},
            {"name": "agents-serving", "type": "probe",
             "provider": {**python, "module": "chaos.probes", "func": "agents_alive"}}],
        "rollbacks": [{"name": "heal", "type": "action",
                       "provider": {**python, "module": "chaos.actions", "func": "heal"}}],
    }


@pytest.fixture(scope="module")
def shared_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, dict[str, Any]]]:
    settings = Settings(home=tmp_path_factory.mktemp("chaos-control") / "home").ensure()
    status = lab_up(settings, topology_for_tests("decentralized", healing={"migrate": False}), name="chaos-control")
    try:
        config = {"aftershock_home": str(settings.home)}
        wait_until(lambda: probes.request_counts(3, configuration=config)["ok"] > 20, 20, what="requests")
        yield settings, status
    finally:
        if any(s["name"] == status["name"] for s in list_labs(settings)):
            lab_down(settings, status["name"])


def chaos_run(settings: Settings, tmp_path: Path, fault_s: float) -> subprocess.Popen:
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(experiment(fault_s)))
    env = {**os.environ, "AFTERSHOCK_HOME": str(settings.home)}
    env.pop("AFTERSHOCK_LAB", None)
    return subprocess.Popen([str(CHAOS), "--no-version-check", "--log-file", str(tmp_path / "chaos.log"), "run",
                             "--journal-path", str(tmp_path / "journal.json"), str(path)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(proc: subprocess.Popen, timeout: float = 60) -> str:
    try:
        out, _ = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return out


def only_run(settings: Settings) -> dict[str, Any]:
    with RunStore.open(settings.store_dir, readonly=True) as store:
        runs = store.list_runs()
        return store.get_run(runs.run_id.iloc[0])


def test_chaos_run_lands_in_the_store(shared_lab, tmp_path: Path) -> None:
    settings, status = shared_lab
    out = finish(chaos_run(settings, tmp_path, fault_s=3))
    assert "Experiment ended with status: completed" in out, out
    with RunStore.open(settings.store_dir, readonly=True) as store:
        runs = store.list_runs(experiment="short-node-loss")
        assert len(runs) == 1
        run = store.get_run(runs.run_id.iloc[0])
        run_id = run["run_id"]
        assert run["status"] == "completed" and run["topology"] == "decentralized"
        assert run["started_at"] + 0.9 <= run["injected_at"] <= run["ended_at"] - 3
        assert store.get_journal(run_id)["status"] == "completed"
        timeline = store.load_timeline(run_id)
        kinds = [(a["name"], a["type"]) for a in timeline]
        assert kinds == [("availability", "probe"), ("served", "hypothesis"), ("kill-one-node", "action"),
                         ("agents-serving", "probe"), ("availability", "probe"), ("served", "hypothesis"),
                         ("heal", "rollback")]
        assert [a["detail"].get("when") for a in timeline if a["type"] == "hypothesis"] == ["before", "after"]
        kill = timeline[2]
        assert kill["status"] == "succeeded" and kill["start"] == pytest.approx(run["injected_at"])
        assert "killed" in kill["detail"]["output"]
        stats = store.run_stats(run_id)
        assert stats["series"] > 50 and stats["samples"] > 500 and stats["machine_load"] >= 3
        requests = store.load_requests(run_id)
        assert len(requests) > 100
        assert requests.ts.min() >= run["started_at"] and requests.ts.max() <= run["ended_at"]
        events = store.load_events(run_id)
        assert "node_killed" in set(events.kind) and "healed" in set(events.kind)
        assert events.ts.min() >= run["started_at"]
        up = store.load_series(run_id, ["up"])
        assert (up.value == 0).any() and (up.value == 1).any()  # the killed node was scraped as down


def test_ctrl_c_mid_fault_is_recorded_as_interrupted_and_the_lab_healed(shared_lab, tmp_path: Path) -> None:
    settings, status = shared_lab
    control = ControlClient.for_lab(status)
    # Chaos Toolkit acts on Ctrl-C when the current pause ends, so the fault is kept short.
    proc = chaos_run(settings, tmp_path, fault_s=4)
    try:
        wait_until(lambda: any(not n["alive"] for n in control.status()["nodes"]), 30, what="the fault")
        proc.send_signal(signal.SIGINT)
        out = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "Experiment ended with status: interrupted" in out, out
    with RunStore.open(settings.store_dir, readonly=True) as store:
        run = store.get_run(store.list_runs(experiment="short-node-loss").run_id.iloc[0])
        assert run["status"] == "interrupted"
        names = [a["name"] for a in store.load_timeline(run["run_id"])]
        assert names[-1] == "safety heal (rollbacks not played)"
    assert all(n["alive"] for n in control.status()["nodes"])
