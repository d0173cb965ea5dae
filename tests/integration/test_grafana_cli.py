"""``aftershock grafana export`` through the command line's main: files written, bad input refused on one line
with exit code 2 and nothing half-written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from grafana_foundation_sdk.models.dashboard import Dashboard

from aftershock.cli import main
from core.settings import Settings
from store import RunStore


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home").ensure()


def stored_windows(settings: Settings) -> str:
    with RunStore.open(settings.store_dir) as store:
        cid = store.create_comparison("node-loss")
        rid = store.create_run(experiment="node-loss", topology="centralized", comparison_id=cid)
        store.update_run(rid, injected_at=1000.0, meta={"lab": "centralized-1"})
        store.put_fault_windows(rid, [{"name": "kill", "action": "kill_node", "start": 1000.0, "end": 1010.0,
                                       "what": "us-east-n1 was down", "lifted_by": "heal"}])
        store.finish_run(rid, "completed")
    return cid


def test_export_writes_a_dashboard_and_the_annotations(settings: Settings, tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    cid = stored_windows(settings)
    out, notes = tmp_path / "g" / "dash.json", tmp_path / "notes.json"
    assert main(["grafana", "export", "--datasource", "prom-1", "--out", str(out), "--annotations", str(notes),
                 "-c", cid], settings) == 0
    model = Dashboard.from_json(json.loads(out.read_text()))
    assert model.panels and "--datasource" not in out.read_text()
    assert json.loads(notes.read_text())[0]["tags"][:3] == ["aftershock", "node-loss", "centralized"]
    assert "1 fault window(s)" in capsys.readouterr().err


def test_export_to_stdout(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["grafana", "export"], settings) == 0
    assert json.loads(capsys.readouterr().out)["uid"] == "aftershock-resilience"


@pytest.mark.parametrize("argv,message", [
    (["--datasource", "no spaces allowed"], "is not a Grafana uid"),
    (["--annotations", "{tmp}/a.json"], "no run store"),
    (["--comparison", "c-1"], "add --annotations FILE"),
])
def test_bad_input_is_one_line_exit_2_and_nothing_written(settings: Settings, tmp_path: Path, argv: list[str],
                                                          message: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "dash.json"
    args = ["grafana", "export", "--out", str(out), *[a.format(tmp=tmp_path) for a in argv]]
    assert main(args, settings) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not out.exists() and not (tmp_path / "a.json").exists()


def test_an_unknown_comparison_writes_nothing(settings: Settings, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    stored_windows(settings)
    out, notes = tmp_path / "dash.json", tmp_path / "notes.json"
    assert main(["grafana", "export", "--out", str(out), "--annotations", str(notes), "-c", "c-nope"], settings) == 2
    assert "c-nope" in capsys.readouterr().err
    assert not out.exists() and not notes.exists()
