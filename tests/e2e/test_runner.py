"""The runner end to end: real labs, a real Chaos Toolkit run, one comparison in the store; Ctrl-C safety."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from aftershock.runner import RunPlan, dry_run, run_comparison
from core.settings import Settings
from core.wait import wait_until
from store import RunStore
from tests.support.labutil import alive

pytestmark = pytest.mark.lab


def write_experiment(path: Path, pause_s: float) -> Path:
    path.write_text(yaml.safe_dump({
        "title": "lose one node in eu-west",
        "description": "short experiment for the runner tests",
        "method": [{"type": "action", "name": "kill one eu-west node",
                    "provider": {"type": "python", "module": "chaos.actions", "func": "kill_node",
                                 "arguments": {"region": "eu-west", "count": 1, "seed": 3}},
                    "pauses": {"after": pause_s}}],
        "rollbacks": [{"type": "action", "name": "heal the lab",
                       "provider": {"type": "python", "module": "chaos.actions", "func": "heal"}}],
    }))
    return path


def test_short_experiment_against_two_topologies_lands_as_one_comparison(settings: Settings, tmp_path: Path) -> None:
    exp = write_experiment(tmp_path / "kill.yaml", pause_s=4)
    plan = RunPlan(experiment=str(exp), topologies=["decentralized", "hybrid"], warmup_s=3, observe_s=3)
    summary = run_comparison(settings, plan)
    assert [r["status"] for r in summary["runs"]] == ["completed", "completed"]
    assert {r["topology"] for r in summary["results"]} == {"decentralized", "hybrid"}
    with RunStore.open(settings.store_dir, readonly=True) as store:
        comparison = store.get_comparison(summary["comparison_id"])
        assert len(comparison["runs"]) == 2
        for run in comparison["runs"]:
            rid = run["run_id"]
            journal = store.get_journal(rid)
            assert journal["status"] == "completed" and journal["rollbacks"]
            assert store.get_run(rid)["injected_at"] is not None
            assert store.load_timeline(rid), "the recording control stores the activity timeline"
            series = store.load_series(rid, ["up"])
            assert set(series["node"].dropna()) >= {"eu-west-n1", "eu-west-n2", "eu-west-n3"}
            killed = [e for e in store.load_events(rid).to_dict("records") if e["kind"] == "node_killed"]
            assert killed and killed[0]["node"].startswith("eu-west-")
            assert len(store.load_requests(rid)) > 100
            assert len(store.load_machine_load(rid)) >= 3
    for result in summary["results"]:
        assert result["source"] == "request_log"
        assert 0 <= result["metrics"]["resilience"] <= 100
    assert summary["verdicts"] and all(v["outcome"] == "insufficient_repeats" for v in summary["verdicts"])


def test_dry_run_names_the_targets_and_starts_nothing(settings: Settings, tmp_path: Path) -> None:
    exp = write_experiment(tmp_path / "kill.yaml", pause_s=1)
    plan = RunPlan(experiment=str(exp), topologies=["decentralized", "centralized"])
    result = dry_run(settings, plan)
    by_topology = {t["topology"]: t for t in result["topologies"]}
    kill = by_topology["decentralized"]["steps"][0]
    assert kill["targets"]["targets"][0].startswith("eu-west-n")
    assert "targets_error" in by_topology["centralized"]["steps"][0]  # no eu-west nodes there
    assert not (settings.labs_dir).exists() or not any(settings.labs_dir.iterdir())


@pytest.fixture
def runner_process(settings: Settings) -> Iterator[list[subprocess.Popen]]:
    procs: list[subprocess.Popen] = []
    yield procs
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _lab_pids(home: Path) -> list[int]:
    pids = []
    for state_file in (home / "labs").glob("*/state.json"):
        state = json.loads(state_file.read_text())
        pids += [n["pid"] for n in state["nodes"] if n.get("pid")] + [state["pid"]]
        if state.get("clients", {}).get("pid"):
            pids.append(state["clients"]["pid"])
    return pids


def test_sigint_mid_run_heals_stores_interrupted_and_leaves_nothing(settings: Settings, tmp_path: Path,
                                                                   runner_process: list) -> None:
    exp = write_experiment(tmp_path / "long.yaml", pause_s=120)
    env = {**os.environ, "AFTERSHOCK_HOME": str(settings.home)}
    proc = subprocess.Popen([sys.executable, "-m", "aftershock.cli", "run", str(exp), "-t", "decentralized",
                             "--warmup", "2", "--observe", "2"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    runner_process.append(proc)

    def injected() -> bool:
        logs = list(settings.labs_dir.glob("*/events.jsonl")) if settings.labs_dir.exists() else []
        return any('"node_killed"' in log.read_text() for log in logs)

    wait_until(injected, 60, interval_s=0.2, what="the fault to be injected")
    pids = _lab_pids(settings.home)
    assert pids
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        pytest.fail(f"the run did not end within 60 s of Ctrl-C; its stderr ends:\n{err[-3000:]}")
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err
    wait_until(lambda: not alive(pids), 10, what="every lab process to end")
    with RunStore.open(settings.store_dir, readonly=True) as store:
        runs = store.list_runs()
        assert list(runs["status"]) == ["interrupted"]
        journal = store.get_journal(runs.iloc[0]["run_id"])
        assert journal["status"] == "interrupted"
        assert [r["activity"]["name"] for r in journal["rollbacks"]] == ["heal the lab"]
        assert journal["rollbacks"][0]["status"] == "succeeded"


def test_guardrail_aborts_the_run_and_rollbacks_still_run(settings: Settings, tmp_path: Path) -> None:
    exp = tmp_path / "home-loss.yaml"
    exp.write_text(yaml.safe_dump({
        "title": "lose the home region behind a guardrail",
        "description": "the guardrail trips: every region loses service when the hub's region dies",
        "extensions": [{"name": "aftershock", "guardrails": {"min_availability": 0.5, "window_s": 3}}],
        "method": [{"type": "action", "name": "kill the home region",
                    "provider": {"type": "python", "module": "chaos.actions", "func": "kill_region",
                                 "arguments": {"region": "us-east"}},
                    "pauses": {"after": 60}}],
        "rollbacks": [{"type": "action", "name": "heal the lab",
                       "provider": {"type": "python", "module": "chaos.actions", "func": "heal"}}],
    }))
    plan = RunPlan(experiment=str(exp), topologies=["centralized"], warmup_s=3, observe_s=2)
    summary = run_comparison(settings, plan)
    run = summary["runs"][0]
    assert run["status"] == "aborted"
    assert "guardrail" in run["aborted_reason"]
    with RunStore.open(settings.store_dir, readonly=True) as store:
        journal = store.get_journal(run["run_id"])
        assert journal["rollbacks"] and journal["rollbacks"][0]["status"] == "succeeded"
        stored = store.get_run(run["run_id"])
        assert stored["status"] == "aborted"
        # aborted well before the 60 s pause ran out
        assert stored["ended_at"] - stored["injected_at"] < 30


def test_prometheus_collector_materialises_the_run_into_the_store(settings: Settings, tmp_path: Path) -> None:
    from tests.support.collectors import require_prometheus

    require_prometheus()
    exp = write_experiment(tmp_path / "kill.yaml", pause_s=3)
    plan = RunPlan(experiment=str(exp), topologies=["decentralized"], warmup_s=8, observe_s=2,
                   collector="prometheus")
    summary = run_comparison(settings, plan)
    run_id = summary["runs"][0]["run_id"]
    with RunStore.open(settings.store_dir, readonly=True) as store:
        series = store.load_series(run_id, ["aftershock_client_requests_total", "up"])
    assert set(series["metric"].astype(str)) == {"aftershock_client_requests_total", "up"}
    assert set(series["aftershock_lab"].dropna()) == {store_lab_name(settings, run_id)}
    assert not list((settings.home / "prometheus" / "data").glob("lock"))  # the server stopped cleanly


def store_lab_name(settings: Settings, run_id: str) -> str:
    with RunStore.open(settings.store_dir, readonly=True) as store:
        return store.get_run(run_id)["meta"]["lab"]


def test_sweep_stores_a_fragility_curve(settings: Settings, monkeypatch) -> None:
    monkeypatch.setenv("AFTERSHOCK_BASELINE_S", "1")
    monkeypatch.setenv("AFTERSHOCK_FAULT_S", "4")
    plan = RunPlan(experiment="progressive-node-loss", topologies=["decentralized"], intensities=[0, 2],
                   warmup_s=3, observe_s=2)
    summary = run_comparison(settings, plan)
    assert summary["kind"] == "sweep"
    assert [r["intensity"] for r in summary["runs"]] == [0, 2]
    with RunStore.open(settings.store_dir, readonly=True) as store:
        killed = [sum(e["kind"] == "node_killed" for e in store.load_events(r["run_id"]).to_dict("records"))
                  for r in summary["runs"]]
    assert killed == [0, 2]
    curve = summary["fragility"]["curves"][0]
    assert curve["topology"] == "decentralized" and curve["points"] == 2
    assert curve["shape"] in {"fragile", "degrading", "robust", "antifragile", "unknown"}
