"""A sample of the hostile input corpus (tests/support/hostile.py) through real ``aftershock`` processes: exit
status 2, one line on stderr, no traceback, nothing under the home (the full corpus runs in-process in
tests/unit/test_hostile_inputs.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.hostile import CASES, SUBPROCESS_SAMPLE, materialise

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = [c for c in CASES if c.id in SUBPROCESS_SAMPLE]


def test_the_sample_names_existing_cases() -> None:
    assert len(SAMPLE) == len(SUBPROCESS_SAMPLE)


@pytest.mark.parametrize("case", SAMPLE, ids=[c.id for c in SAMPLE])
def test_hostile_input_through_a_real_process(case, tmp_path: Path) -> None:
    argv, env = materialise(case, tmp_path)
    home = tmp_path / "home"
    proc = subprocess.run([sys.executable, "-m", "aftershock", *argv], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "AFTERSHOCK_HOME": str(home), **env})
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert not home.exists()
