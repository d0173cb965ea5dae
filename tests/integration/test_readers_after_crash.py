"""Readers tell the truth after a crash: a run whose writer was killed -9 reads as interrupted in every reader
(the store API read-only, ``aftershock runs --json``, ``aftershock show``), without any reader writing."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from store import RunStore

REPO = Path(__file__).resolve().parents[2]

# Creates a comparison with one finished and one running run, says so, then waits to be killed.
WRITER = """
import sys, time
from store import RunStore
store = RunStore.open(sys.argv[1], flush_interval=3600)
cid = store.create_comparison("e")
done = store.create_run(experiment="e", topology="hybrid", comparison_id=cid)
store.finish_run(done, "completed")
run = store.create_run(experiment="e", topology="decentralized", comparison_id=cid)
store.append_samples(run, [(1_764_212_345.0 + i, "m", {}, 1.0) for i in range(10)])
store.flush()
print(cid, done, run, flush=True)
time.sleep(600)
"""


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path / "home" / "store")], cwd=REPO,
                            stdout=subprocess.PIPE, text=True)
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait(30)
    proc.stdout.close()


def _digest(store_dir: Path) -> dict[str, str]:
    """The database and its write-ahead log (the -shm file is SQLite's shared-memory index, which readers use)."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(store_dir.iterdir())
            if p.is_file() and not p.name.endswith("-shm")}


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "AFTERSHOCK_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "aftershock.cli", *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=60)


def test_a_killed_writers_run_reads_interrupted_everywhere_and_nothing_is_written(
        tmp_path: Path, writer: subprocess.Popen) -> None:
    home = tmp_path / "home"
    cid, done, run = writer.stdout.readline().split()
    with RunStore.open(home / "store", readonly=True) as store:
        assert store.get_run(run)["status"] == "running", "a live writer's run is running"
        assert list(store.list_runs(status="running")["run_id"]) == [run]
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait(30)  # reaped: not even a zombie left
    before = _digest(home / "store")

    with RunStore.open(home / "store", readonly=True) as store:
        record = store.get_run(run)
        assert record.status == "interrupted" and f"pid {writer.pid}" in record.meta["interrupted_reason"]
        assert store.get_run(done).status == "completed"
        assert {r.status for r in store.get_comparison(cid).runs} == {"completed", "interrupted"}
        assert store.list_runs(status="running").empty
        assert list(store.list_runs(status="interrupted")["run_id"]) == [run]
        assert dict(zip(store.list_runs()["run_id"], store.list_runs()["status"], strict=True)) == {
            run: "interrupted", done: "completed"}

    listed = _cli(home, "runs", "--json")
    assert listed.returncode == 0, listed.stderr
    assert {r["run_id"]: r["status"] for r in json.loads(listed.stdout)} == {run: "interrupted", done: "completed"}
    shown = _cli(home, "show", run)
    assert shown.returncode == 0 and f"run {run}: interrupted" in shown.stdout
    assert _digest(home / "store") == before, "readers never write"

    with RunStore.open(home / "store") as store:  # the next writable open records what readers showed
        assert store.get_run(run).status == "interrupted" and store.integrity_check() == []
