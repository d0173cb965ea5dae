"""``aftershock runs`` / ``aftershock show`` through ``register`` (the main CLI wires it in)."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from aftershock.cli_store import describe, register
from core.errors import UserError
from core.settings import Settings
from store import RunStore

T0 = 1_764_212_345.0


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")


def _run(settings: Settings, *argv: str) -> tuple[int, str]:
    parser = argparse.ArgumentParser(prog="aftershock")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    out = io.StringIO()
    return args.func(args, settings, out=out), out.getvalue()


def test_runs_on_an_empty_home(settings: Settings) -> None:
    assert _run(settings, "runs") == (0, f"no runs recorded yet in {settings.store_dir}\n")
    assert _run(settings, "runs", "--json") == (0, "[]\n")


def test_runs_and_show(settings: Settings) -> None:
    with RunStore.open(settings.store_dir) as store:
        cid = store.create_comparison("kill-node")
        first = store.create_run(experiment="kill-node", topology="centralized", comparison_id=cid)
        store.append_samples(first, [(T0 + i, "m", {"node": "a"}, float(i)) for i in range(10)])
        store.append_events(first, [{"ts": T0, "kind": "node_killed", "node": "a"}])
        store.finish_run(first, "completed")
        second = store.create_run(experiment="partition", topology="hybrid")
    code, text = _run(settings, "runs")
    assert code == 0 and text.splitlines()[0].split()[:3] == ["run_id", "experiment", "topology"]
    assert first in text and second in text
    code, text = _run(settings, "runs", "--json", "--topology", "centralized")
    rows = json.loads(text)
    assert [r["run_id"] for r in rows] == [first] and rows[0]["status"] == "completed"

    code, text = _run(settings, "show", first, "--json")
    info = json.loads(text)
    assert info["kind"] == "run" and info["counts"]["samples"] == 10 and info["counts"]["events"] == 1
    code, text = _run(settings, "show", first)
    assert f"run {first}: completed" in text and "samples: 10" in text
    code, text = _run(settings, "show", cid)
    assert code == 0 and first in text
    with RunStore.open(settings.store_dir, readonly=True) as store:
        assert describe(store, second)["status"] == "running"


def test_show_missing_id_is_a_user_error(settings: Settings) -> None:
    with pytest.raises(UserError, match="no run r-nope in the store"):
        _run(settings, "show", "r-nope")
    RunStore.open(settings.store_dir).close()
    with pytest.raises(UserError, match="list runs with `aftershock runs`"):
        _run(settings, "show", "r-nope")
    with pytest.raises(UserError, match="no comparison c-nope"):
        _run(settings, "show", "c-nope")
