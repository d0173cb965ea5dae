"""A writer killed -9 mid-run: the store stays readable, finished runs intact, the run 'interrupted'."""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from store import RunStore

REPO = Path(__file__).resolve().parents[2]
T0 = 1_764_212_345.0
DEADLINE_S = 30.0

# Finishes one run, then writes another forever, printing "FLUSHED <run> <samples>" after each commit.
WRITER = """
import sys
from store import RunStore
T0 = 1_764_212_345.0
store = RunStore.open(sys.argv[1], flush_interval=3600)
done = store.create_run(experiment="e", topology="centralized")
store.append_samples(done, [(T0 + i, "m", {"node": "n1"}, float(i)) for i in range(1000)])
store.finish_run(done, "completed")
print("FINISHED", done, flush=True)
run = store.create_run(experiment="e", topology="decentralized")
i = 0
while True:
    store.append_samples(run, [(T0 + i, "m", {"node": f"n{k}"}, float(i)) for k in range(50)])
    i += 1
    if i % 20 == 0:
        store.flush()
        print("FLUSHED", run, i * 50, flush=True)
"""


class Child:
    """A subprocess whose stdout lines are awaited with a deadline, never with a bare sleep."""

    def __init__(self, args: list[str]) -> None:
        self.proc = subprocess.Popen(
            args, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
        )
        self._selector = selectors.DefaultSelector()
        self._selector.register(self.proc.stdout, selectors.EVENT_READ)

    def wait_line(self, prefix: str, *, nth: int = 1) -> list[str]:
        """The ``nth`` stdout line starting with ``prefix``, split into words."""
        deadline = time.monotonic() + DEADLINE_S
        seen = 0
        while time.monotonic() < deadline:
            if not self._selector.select(timeout=max(0.0, deadline - time.monotonic())):
                continue
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError(f"child exited ({self.proc.wait()}): {self.proc.stderr.read()}")
            if line.startswith(prefix):
                seen += 1
                if seen == nth:
                    return line.split()
        raise AssertionError(f"no {prefix!r} line #{nth} within {DEADLINE_S} s")

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=DEADLINE_S)  # reaped: a zombie would still look alive
        self._selector.close()
        for stream in (self.proc.stdout, self.proc.stderr):
            stream.close()


@pytest.fixture
def spawn() -> Iterator:
    children: list[Child] = []

    def start(args: list[str]) -> Child:
        child = Child(args)
        children.append(child)
        return child

    yield start
    for child in children:
        child.kill()


@pytest.mark.parametrize("flushes_before_kill", [1, 3, 6])
def test_kill_9_writer_mid_run(tmp_path: Path, spawn, flushes_before_kill: int) -> None:
    store_dir = tmp_path / "store"
    with RunStore.open(store_dir) as store:
        earlier = store.create_run(experiment="e", topology="hybrid")
        store.append_samples(earlier, [(T0 + i, "up", {}, 1.0) for i in range(300)])
        store.finish_run(earlier, "completed", summary={"ok": True})

    child = spawn([sys.executable, "-c", WRITER, str(store_dir)])
    _, finished = child.wait_line("FINISHED")
    _, killed, flushed = child.wait_line("FLUSHED", nth=flushes_before_kill)
    with RunStore.open(store_dir, readonly=True) as reader:  # readable while the writer is alive
        assert reader.get_run(killed)["status"] == "running"
    child.kill()

    with RunStore.open(store_dir) as store:
        assert store.integrity_check() == []
        assert store.get_run(earlier)["status"] == "completed"
        assert store.get_run(earlier)["summary"] == {"ok": True}
        assert len(store.load_series(earlier)) == 300
        assert store.get_run(finished)["status"] == "completed"
        assert store.load_series(finished)["value"].tolist() == [float(i) for i in range(1000)]
        victim = store.get_run(killed)
        assert victim["status"] == "interrupted"
        assert victim["ended_at"] >= victim["started_at"]
        partial = store.load_series(killed)
        assert len(partial) >= int(flushed)
        assert partial.groupby("node", observed=True)["ts"].is_monotonic_increasing.all()


def test_running_run_of_a_live_writer_is_left_alone(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    with RunStore.open(store_dir) as first:
        run = first.create_run(experiment="e", topology="t")
        with RunStore.open(store_dir) as second:  # same live process: not a crash
            assert second.get_run(run)["status"] == "running"
