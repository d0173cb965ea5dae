"""The dashboard tests' store, filled by the REAL runner (``aftershock run`` as a subprocess), never by hand.

Why: hand-built records drifted from what the runner writes (the Live page read a run's lab from
``settings["lab"]``, which the runner never writes, and the tests still passed). Here:

- :func:`build_dashboard_store`: ``aftershock run node-loss -t centralized -t decentralized --warmup 3
  --observe 4 --json`` with the experiment's own pauses shortened (``AFTERSHOCK_BASELINE_S``,
  ``AFTERSHOCK_FAULT_S``), from a copy of the library experiment whose title is hostile HTML (it must stay
  text everywhere). One comparison of two finished runs, with everything the runner attaches and derives.
- :class:`HeldRun`: one more run of the same experiment on ``decentralized`` whose fault is held (a long
  ``AFTERSHOCK_FAULT_S``), so it stays *running* with a node dead in its live lab: what the Live page draws.
  It is stopped with SIGTERM (the runner rolls back and brings its lab down), SIGKILL after a deadline.

``tests/e2e/conftest.py`` builds both once per session and tears the held run down even when a test fails.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from chaos.library import LIBRARY_DIR
from core.settings import Settings
from core.wait import wait_until
from fleet.lab import list_labs
from store import RunStore

__all__ = ["DashboardStore", "HeldRun", "build_dashboard_store", "TOPOLOGIES", "EXPERIMENT", "HOSTILE_TITLE",
           "HELD_TOPOLOGY", "ROOT"]

ROOT = Path(__file__).resolve().parents[2]
TOPOLOGIES = ("centralized", "decentralized")
HELD_TOPOLOGY = "decentralized"  # its killed node stays dead (peers spawn a replacement): a hub would restart it
EXPERIMENT = "node-loss"
HOSTILE_TITLE = '<script>alert("x")</script> node loss'
RUN_TIMEOUT_S = 420.0  # two short runs on a loaded 2-core machine
HELD_READY_S = 180.0
STOP_TIMEOUT_S = 60.0
_SHORT = {"AFTERSHOCK_BASELINE_S": "2", "AFTERSHOCK_FAULT_S": "4"}


@dataclass(frozen=True)
class DashboardStore:
    """The home the runner filled, the comparison it made, its runs by topology and its JSON summary."""

    settings: Settings
    comparison_id: str
    run_ids: dict[str, str]
    summary: dict[str, Any]
    experiment_path: Path

    @property
    def home(self) -> Path:
        return self.settings.home


def _hostile_experiment(folder: Path) -> Path:
    """The library's node-loss experiment with a hostile title, as ``node-loss.yaml`` (same experiment name)."""
    data = yaml.safe_load((LIBRARY_DIR / f"{EXPERIMENT}.yaml").read_text())
    data["title"] = HOSTILE_TITLE
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{EXPERIMENT}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AFTERSHOCK_")}
    return {**env, "AFTERSHOCK_HOME": str(home), "PYTHONUNBUFFERED": "1", **extra}


def _argv(experiment: Path, topologies: tuple[str, ...], warmup: float, observe: float) -> list[str]:
    argv = [sys.executable, "-m", "aftershock.cli", "run", str(experiment), "--warmup", f"{warmup:g}",
            "--observe", f"{observe:g}", "--json"]
    for topology in topologies:
        argv += ["-t", topology]
    return argv


def _stop_group(proc: subprocess.Popen, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the run's process group (it rolls back and brings its lab down), then SIGKILL."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            continue


def build_dashboard_store(home: Path) -> DashboardStore:
    """One comparison of centralized and decentralized made by ``aftershock run`` (a subprocess)."""
    settings = Settings(home=home).ensure()
    experiment = _hostile_experiment(home.parent / "experiments")
    log = home.parent / "runner.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(_argv(experiment, TOPOLOGIES, 3, 4), env=_env(home, **_SHORT), cwd=str(ROOT),
                                stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)
        try:
            out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
        finally:
            _stop_group(proc)
    if proc.returncode != 0:
        raise AssertionError(f"aftershock run exited {proc.returncode}: {log.read_text()[-3000:]}")
    summary = json.loads(out)
    runs = {r["topology"]: r["run_id"] for r in summary["runs"]}
    assert set(runs) == set(TOPOLOGIES), summary["runs"]
    assert not list_labs(settings), "the runner left a lab running"
    return DashboardStore(settings, summary["comparison_id"], runs, summary, experiment)


class HeldRun:
    """A run of the runner kept *running* (its fault held) in ``store``'s home until :meth:`stop`."""

    def __init__(self, store: DashboardStore) -> None:
        self.store = store
        self.proc: subprocess.Popen | None = None
        self.run_id: str | None = None
        self.lab: str | None = None
        self._log = store.home.parent / "held-run.log"

    def start(self) -> HeldRun:
        env = _env(self.store.home, AFTERSHOCK_BASELINE_S="1", AFTERSHOCK_FAULT_S="850")
        with self._log.open("wb") as err:
            self.proc = subprocess.Popen(_argv(self.store.experiment_path, (HELD_TOPOLOGY,), 2, 1), env=env,
                                         cwd=str(ROOT), stdout=subprocess.DEVNULL, stderr=err,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        wait_until(self._injected, HELD_READY_S, interval_s=0.5, what="the held run to inject its fault")
        return self

    def _injected(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the held run exited {self.proc.returncode}: {self._log.read_text()[-3000:]}")
        db = self.store.settings.store_dir
        with RunStore.open(db, readonly=True) as store:
            running = [r for r in store.list_runs(status="running").itertuples() if r.topology == HELD_TOPOLOGY]
            if not running:
                return False
            run = store.get_run(running[0].run_id)
        labs = {lab["name"]: lab for lab in list_labs(self.store.settings)}
        lab = labs.get(run.lab or "")
        if run.injected_at is None or lab is None or all(n.get("alive") for n in lab["nodes"]):
            return False
        self.run_id, self.lab = run.run_id, run.lab
        return True

    def stop(self) -> None:
        """Stop the run (rollbacks run, the lab comes down); every process of it is gone afterwards."""
        if self.proc is not None:
            _stop_group(self.proc)
        wait_until(lambda: self.lab not in {lab["name"] for lab in list_labs(self.store.settings)}, STOP_TIMEOUT_S,
                   interval_s=0.2, what=f"the held run's lab {self.lab} to come down")
