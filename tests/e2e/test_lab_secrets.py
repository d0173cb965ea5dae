"""The lab's control token stays out of sight: not on any command line, not in any environment."""

from __future__ import annotations

import stat
from pathlib import Path

import psutil
import pytest

from tests.support.labutil import lab_pids

pytestmark = pytest.mark.lab


def test_no_process_shows_the_lab_token_in_its_cmdline_or_environment(lab) -> None:
    status = lab("decentralized")
    token_file = Path(status["token_file"])
    token = token_file.read_text().strip()
    assert len(token) >= 24
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    lab_processes = set(lab_pids(status))
    examined, leaks = set(), []
    for proc in psutil.process_iter():
        try:
            cmdline = " ".join(proc.cmdline())
            environ = proc.environ()
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        examined.add(proc.pid)
        if token in cmdline:
            leaks.append(f"pid {proc.pid} cmdline: {cmdline[:80]}")
        leaks += [f"pid {proc.pid} environment variable {k}" for k, v in environ.items() if token in v]
    assert lab_processes <= examined, "every lab process must be looked at"
    assert len(lab_processes) >= 11  # supervisor, 9 nodes, the load generator
    assert not leaks, leaks
