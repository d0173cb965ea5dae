"""Experiments are validated before anything breaks: one clear line and exit code 2 for each bad file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aftershock.cli import main
from chaos.library import guardrails_of, library_names, load_experiment
from core.errors import ExperimentError

BAD = sorted((Path(__file__).parent.parent / "data" / "bad_experiments").iterdir())

EXPECTED = {
    "01_yaml_syntax": "YAML syntax error at line 4",
    "02_not_mapping": "an experiment is a mapping",
    "03_no_method": "missing required field 'method'",
    "04_unknown_action": "unknown function chaos.actions.explode_everything",
    "05_missing_target": "missing target",
    "06_wrong_type": "argument 'count' should be int",
    "07_process_provider": "outside the Aftershock extension",
    "08_foreign_python_provider": "provider python:os is outside the Aftershock extension",
    "09_empty_method": "non-empty list",
    "10_unknown_argument": "has no argument 'regoin'",
    "11_bad_guardrails": "min_availability must be in 0..1",
    "12_json_syntax": "JSON syntax error at line 1",
    "13_probe_without_tolerance": "tolerance",
}


def test_corpus_is_complete() -> None:
    assert len(BAD) >= 10 and {p.stem for p in BAD} == set(EXPECTED)


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_malformed_experiment_is_one_line_and_exit_2(path: Path, capsys, settings) -> None:
    with pytest.raises(ExperimentError) as info:
        load_experiment(str(path))
    message = str(info.value)
    assert "\n" not in message and message.startswith(str(path))
    assert EXPECTED[path.stem] in message
    assert main(["experiments", str(path)], settings=settings) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_run_refuses_a_bad_experiment_before_starting_anything(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "aftershock.cli", "run", str(BAD[6]), "-t", "decentralized"],
                          capture_output=True, text=True, timeout=60, env={"AFTERSHOCK_HOME": str(tmp_path)})
    assert proc.returncode == 2, proc.stderr
    assert "outside the Aftershock extension" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "labs").exists() or not any((tmp_path / "labs").iterdir())
    assert not (tmp_path / "store").exists() or not any((tmp_path / "store").iterdir())


def test_foreign_providers_need_an_explicit_flag_and_never_come_from_the_library() -> None:
    exp = load_experiment(str(BAD[7]), allow_any_provider=True)
    assert exp.from_library is False
    for name in library_names():
        for activity in load_experiment(name).data["method"]:
            assert activity["provider"]["module"] in ("chaos.actions", "chaos.probes")


def test_guardrails_are_read_from_the_extension_block() -> None:
    rails = guardrails_of({"extensions": [{"name": "aftershock", "guardrails": {
        "min_availability": 0.5, "window_s": 5, "exclude_regions": ["us-east"]}}]})
    assert rails.min_availability == 0.5 and rails.window_s == 5 and rails.exclude_regions == ("us-east",)
    assert guardrails_of({}).min_availability is None


def test_every_library_experiment_validates() -> None:
    names = library_names()
    assert len(names) >= 9
    for name in names:
        assert load_experiment(name).from_library
