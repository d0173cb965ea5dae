"""The hostile input corpus (tests/support/hostile.py), in-process: every case exits 2 with one line on stderr, no
traceback, nothing written under the home, and (this conftest enforces it) no process started, no socket opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from aftershock.cli import main
from core.settings import Settings
from tests.support.hostile import CASES, materialise


def test_the_corpus_is_large_and_every_case_is_named_once() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) >= 100 and len(set(ids)) == len(ids)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_input_is_one_line_exit_2_and_nothing_written(case, tmp_path: Path, capsys: pytest.CaptureFixture,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    argv, env = materialise(case, tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    home = tmp_path / "home"
    try:
        code = main(argv, Settings(home=home))
    except SystemExit as exc:  # argparse
        code = exc.code
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code == 2, f"exit {code}; stderr: {captured.err[:500]}"
    assert len(lines) == 1, captured.err[:2000]
    assert "Traceback" not in captured.err and len(lines[0]) < 2_000
    assert not home.exists(), f"written: {sorted(str(p.relative_to(home)) for p in home.rglob('*'))}"
