"""Crash trials: kill -9 at random points and check that nothing is lost or left behind.

Used by bench/bench_crash.py (50 runner trials, 100 store-writer trials, dashboard trials: the figures of
docs/benchmarks.md) and by tests/e2e/test_crash_trials.py (a short version in the suite).

- **Runner**: ``aftershock run`` of a partition experiment on a tiny lab, killed -9 in one of four phases
  (before its lab is up, during the fault, during the rollbacks, during materialisation). Then: no process of
  the home left, no fault active, the run not ``running`` in any reader (store API read-only, ``aftershock runs
  --json``), ``integrity_check`` clean.
- **Store writer**: a process finishing runs one after another, killed -9 at a random moment mid-write. Then:
  every run it reported finished is there, completed, with all its samples; the one in flight reads
  interrupted; ``integrity_check`` clean.
- **Dashboard**: ``aftershock dashboard`` (or ``demo``, with its runner and lab) killed -9: nothing of it left.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import random
import selectors
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil
import requests
import yaml

from aftershock.cli import main as cli_main
from core.audit import read_audit
from core.settings import Settings
from store import RunStore
from tests.support.safety import events, home_pids, lab_cut, lab_states

__all__ = ["PHASES", "RunnerTrial", "WriterTrial", "DashboardTrial", "runner_trial", "writer_trial",
           "dashboard_trial", "TINY_TOPOLOGY"]

ROOT = Path(__file__).resolve().parents[2]
PHASES = ("startup", "fault", "rollback", "materialise")
DEADLINE_S = 120.0
GONE_WITHIN_S = 15.0

TINY_TOPOLOGY = {
    "name": "tiny", "kind": "decentralized", "description": "two regions of one node, for crash trials",
    "regions": [{"name": "us-east", "nodes": 1}, {"name": "eu-west", "nodes": 1}],
    "agents_per_node": 1, "agent_concurrency": 2, "latency_ms": {"us-east/eu-west": 20},
    "workload": {"tasks_per_s": 10, "client_split": {"us-east": 0.5, "eu-west": 0.5},
                 "work_time": {"distribution": "lognormal", "median_ms": 50, "sigma": 0.5, "max_ms": 500},
                 "sessions": 20, "timeout_s": 2},
    "healing": {"restart_delay_s": 2, "migrate": True}, "membership": {"preset": "lab"}, "replication": 1,
}
EXPERIMENT = {
    "title": "crash trial: partition", "description": "cut, hold, heal (rollbacks paced so a kill can land in them)",
    "method": [{"type": "action", "name": "cut", "pauses": {"after": 2},
                "provider": {"type": "python", "module": "chaos.actions", "func": "partition_regions",
                             "arguments": {"region": "us-east", "other": "eu-west"}}}],
    "rollbacks": [{"type": "action", "name": "heal-links", "pauses": {"after": 1},
                   "provider": {"type": "python", "module": "chaos.actions", "func": "heal_links"}},
                  {"type": "action", "name": "heal-the-lab",
                   "provider": {"type": "python", "module": "chaos.actions", "func": "heal"}}],
}


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "AFTERSHOCK_HOME": str(home), **extra}
    env.pop("AFTERSHOCK_DASHBOARD_TOKEN", None)
    return env


def _processes_of(home: Path, extra_pids: list[int] = ()) -> list[int]:
    """Live processes started for ``home``: lab pids from its state files, and any process naming the home."""
    pids = set(home_pids(home)) | set(extra_pids)
    for proc in psutil.process_iter(["pid", "cmdline"]):
        with contextlib.suppress(psutil.Error):
            if str(home) in " ".join(proc.info["cmdline"] or []):
                pids.add(proc.info["pid"])
    alive = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            if pid != os.getpid() and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
    return sorted(alive)


def _wait_gone(home: Path, extra_pids: list[int] = (), within_s: float = GONE_WITHIN_S) -> tuple[list[int], float]:
    """Wait for every process of the home to end; (those left, seconds waited)."""
    started = time.monotonic()
    left = _processes_of(home, extra_pids)
    while left and time.monotonic() - started < within_s:
        time.sleep(0.1)  # polling process exits, with a deadline
        left = _processes_of(home, extra_pids)
    return left, time.monotonic() - started


def _reap(pids: list[int]) -> None:
    """Never leave anything behind, even when a trial fails: SIGKILL whatever is left (by pid)."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGCONT)
            os.kill(pid, signal.SIGKILL)


def _faults_active(home: Path) -> int:
    """Links still cut in labs whose supervisor still runs (a dead lab holds no fault)."""
    count = 0
    for state in lab_states(home):
        pid = state.get("pid")
        if pid and psutil.pid_exists(pid) and not state.get("stopped"):
            count += sum(bool(li.get("cut") or li.get("loss")) for li in state.get("links") or [])
    return count


def _readers(home: Path) -> tuple[dict[str, str], dict[str, str], list[str]]:
    """Run statuses as the store API (read-only) and ``aftershock runs --json`` see them, and integrity problems."""
    settings = Settings(home=home)
    if not (settings.store_dir / "runs.sqlite").exists():
        return {}, {}, []
    with RunStore.open(settings.store_dir, readonly=True) as store:
        runs = store.list_runs()
        api = dict(zip(runs["run_id"], runs["status"], strict=True))
        problems = store.integrity_check()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        cli_main(["runs", "--json"], settings)
    cli = {r["run_id"]: r["status"] for r in json.loads(out.getvalue())}
    return api, cli, problems


@dataclass
class RunnerTrial:
    phase: str
    landed: str  # where the kill landed (the runner may have moved on, or finished first)
    orphans: list[int]
    gone_after_s: float
    faults_active: int
    api: dict[str, str]
    cli: dict[str, str]
    integrity: list[str]
    deadman_healed: int
    seconds: float

    @property
    def ok(self) -> bool:
        statuses = set(self.api.values()) | set(self.cli.values())
        return (not self.orphans and self.faults_active == 0 and not self.integrity and self.api == self.cli
                and "running" not in statuses)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _landed(home: Path, runner: subprocess.Popen) -> str:
    if runner.poll() is not None:
        return "finished"
    if events(home, "lab_stopped"):
        return "materialise"
    if any(e.action == "rollback" for e in read_audit(home)[0]):
        return "rollback"
    if lab_cut(home):
        return "fault"
    return "startup" if not any(s.get("ready") for s in lab_states(home)) else "warm-up"


def _wait(predicate: Any, runner: subprocess.Popen, timeout_s: float = DEADLINE_S) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        if runner.poll() is not None:
            return False
        time.sleep(0.02)  # polling a marker file of the run, with a deadline
    return False


def runner_trial(workdir: Path, phase: str, rng: random.Random) -> RunnerTrial:
    """One runner killed -9 in ``phase``; see the module docstring for what is checked."""
    home = workdir / "home"
    workdir.mkdir(parents=True, exist_ok=True)
    topo, exp = workdir / "tiny.yaml", workdir / "partition.yaml"
    topo.write_text(yaml.safe_dump(TINY_TOPOLOGY))
    exp.write_text(yaml.safe_dump(EXPERIMENT))
    started = time.monotonic()
    with open(workdir / "runner.log", "wb") as log:
        runner = subprocess.Popen([sys.executable, "-m", "aftershock.cli", "run", str(exp), "-t", str(topo),
                                   "--warmup", "1", "--observe", "1"], env=_env(home), cwd=ROOT, stdout=log,
                                  stderr=log, stdin=subprocess.DEVNULL)
    try:
        if phase == "startup":
            time.sleep(rng.uniform(0.3, 2.5))  # a random moment of the start-up: the point of the trial
        elif phase == "fault":
            _wait(lambda: lab_cut(home), runner)
            time.sleep(rng.uniform(0.0, 1.5))
        elif phase == "rollback":
            _wait(lambda: any(e.action == "rollback" for e in read_audit(home)[0]), runner)
            time.sleep(rng.uniform(0.0, 0.8))
        elif phase == "materialise":
            _wait(lambda: events(home, "lab_stopped"), runner)
            time.sleep(rng.uniform(0.0, 0.2))
        else:
            raise ValueError(f"unknown phase {phase!r}")
        landed = _landed(home, runner)
        with contextlib.suppress(ProcessLookupError):
            os.kill(runner.pid, signal.SIGKILL)
        runner.wait(30)
        orphans, gone_after = _wait_gone(home)
        faults = _faults_active(home)
        api, cli, problems = _readers(home)
        healed = len(read_audit(home, actions={"deadman"})[0])
        return RunnerTrial(phase, landed, orphans, round(gone_after, 2), faults, api, cli, problems, healed,
                           round(time.monotonic() - started, 1))
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(30)
        _reap(_processes_of(home))


# ---- the store writer ---------------------------------------------------------------------------
WRITER = """
import sys
from store import RunStore
T0 = 1_764_212_345.0
store = RunStore.open(sys.argv[1], flush_interval=0.05)
i = 0
while True:
    run = store.create_run(experiment="e", topology="t", repeat=i)
    print("STARTED", run, flush=True)
    n = 0
    for batch in range(20):
        store.append_samples(run, [(T0 + n + k, "m", {"node": f"n{k % 5}"}, float(n + k)) for k in range(50)])
        n += 50
    store.finish_run(run, "completed", summary={"samples": n})
    print("FINISHED", run, n, flush=True)
    i += 1
"""


@dataclass
class WriterTrial:
    killed_after_s: float
    finished: int
    lost: list[str]
    in_flight: str | None
    in_flight_status: str | None
    integrity: list[str]

    @property
    def ok(self) -> bool:
        return (not self.lost and not self.integrity
                and (self.in_flight is None or self.in_flight_status in ("interrupted", "completed")))

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def writer_trial(workdir: Path, rng: random.Random, max_s: float = 2.5) -> WriterTrial:
    """A store writer killed -9 at a random moment; every run it finished must be there, whole."""
    store_dir = workdir / "store"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(store_dir)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, bufsize=1)
    finished: dict[str, int] = {}
    in_flight: str | None = None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout, selectors.EVENT_READ)
    try:
        first = proc.stdout.readline().split()  # the store is open and writing
        in_flight = first[1] if first and first[0] == "STARTED" else None
        after = rng.uniform(0.0, max_s)
        kill_at = time.monotonic() + after
        while time.monotonic() < kill_at:
            if not selector.select(timeout=max(0.0, kill_at - time.monotonic())):
                continue
            words = proc.stdout.readline().split()
            if not words:
                break
            if len(words) == 2 and words[0] == "STARTED":
                in_flight = words[1]
            elif len(words) == 3 and words[0] == "FINISHED":
                finished[words[1]] = int(words[2])
                in_flight = None
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        for line in proc.stdout.read().splitlines(keepends=True):  # reported before the kill, read after it
            words = line.split()
            if not line.endswith("\n"):  # torn by the kill: not reported (the run may still have finished)
                continue
            if len(words) == 3 and words[0] == "FINISHED":
                finished[words[1]] = int(words[2])
                in_flight = None
            elif len(words) == 2 and words[0] == "STARTED":
                in_flight = words[1]
        lost: list[str] = []
        with RunStore.open(store_dir, readonly=True) as store:  # a reader: it must not need to write
            for run_id, n in finished.items():
                try:
                    run = store.get_run(run_id)
                    if run.status != "completed" or len(store.load_series(run_id)) != n:
                        lost.append(run_id)
                except Exception:  # noqa: BLE001 - a missing run is exactly what is counted
                    lost.append(run_id)
            status = store.get_run(in_flight).status if in_flight else None
            problems = store.integrity_check()
        return WriterTrial(round(after, 2), len(finished), lost, in_flight, status, problems)
    finally:
        selector.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        proc.stdout.close()


# ---- the dashboard --------------------------------------------------------------------------------
@dataclass
class DashboardTrial:
    command: str
    tree: int
    left: list[int]
    gone_after_s: float
    serving_after: bool
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.left and not self.serving_after

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serving(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/_stcore/health", timeout=1).ok
    except requests.RequestException:
        return False


def dashboard_trial(workdir: Path, command: str = "dashboard") -> DashboardTrial:
    """``aftershock dashboard`` or ``demo`` killed -9 once it serves (the demo: once its lab is up)."""
    home = workdir / "home"
    workdir.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "aftershock", command, "--port", str(port)], env=_env(home),
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    notes: list[str] = []
    tree: list[int] = []
    try:
        deadline = time.monotonic() + DEADLINE_S
        while time.monotonic() < deadline and not _serving(port):
            time.sleep(0.2)  # polling a server that is starting, with a deadline
        if command == "demo":
            while time.monotonic() < deadline and not any(s.get("ready") for s in lab_states(home)):
                time.sleep(0.2)
        tree = [p.pid for p in psutil.Process(proc.pid).children(recursive=True)]
        notes.append(f"{len(tree)} descendant(s), {len(home_pids(home))} lab process(es)")
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        left, gone_after = _wait_gone(home, tree, within_s=60.0 if command == "demo" else GONE_WITHIN_S)
        return DashboardTrial(command, len(tree), left, round(gone_after, 2), _serving(port), notes)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
        _reap(_processes_of(home, tree))
