"""The experiment library: every file passes `chaos validate`, carries what a user needs, and plans cleanly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from chaoslib.configuration import load_configuration
from chaostoolkit.cli import cli
from click.testing import CliRunner

from chaos import targets as tg

pytestmark = pytest.mark.timeout(60)

EXPERIMENTS = Path(__file__).resolve().parents[2] / "chaos" / "experiments"
FILES = sorted(EXPERIMENTS.glob("*.yaml"))
REQUIRED = {"node-loss", "agent-crashloop", "region-loss-home", "region-loss-remote", "partition", "brownout",
            "gray-failure", "churn", "progressive-node-loss"}
CHAOS = Path(sys.executable).parent / "chaos"


def test_the_library_has_every_experiment() -> None:
    assert {p.stem for p in FILES} >= REQUIRED


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_chaos_validate_accepts(path: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["--no-version-check", "--log-file", str(tmp_path / "chaos.log"),
                                      "validate", str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "look valid" in (tmp_path / "chaos.log").read_text()


def test_chaos_validate_command_line_needs_no_network(tmp_path: Path) -> None:
    env = {**os.environ, "AFTERSHOCK_HOME": str(tmp_path / "home"), "NO_PROXY": "*",
           "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"}
    proc = subprocess.run([str(CHAOS), "--no-version-check", "validate", str(EXPERIMENTS / "node-loss.yaml")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_experiment_is_complete_and_recorded(path: Path) -> None:
    doc = yaml.safe_load(path.read_text())
    assert doc["title"] and len(doc["description"]) > 80 and "aftershock" in doc["tags"]
    assert doc["configuration"]["aftershock_experiment"] == path.stem
    assert {"provider": {"type": "python", "module": "chaos.control"}}.items() <= doc["controls"][0].items()
    tolerance = doc["steady-state-hypothesis"]["probes"][0]["tolerance"]
    assert tolerance["type"] == "range" and 0.9 <= tolerance["range"][0] < 1
    assert any(a.get("pauses", {}).get("after") for a in doc["method"]), "the fault must last a while"
    assert doc["rollbacks"], "rollbacks heal what the method broke"


def _status(regions: dict[str, int]) -> dict:
    nodes = [{"name": f"{r}-n{i}", "region": r, "role": "agent", "alive": True, "paused": False,
              "agents": [{"id": f"{r}-n{i}-a1", "alive": True}]} for r, n in regions.items() for i in range(1, n + 1)]
    nodes.append({"name": "us-east-hub", "region": "us-east", "role": "hub", "alive": True, "paused": False,
                  "agents": []})
    return {"name": "fake", "regions": list(regions), "nodes": nodes, "links": []}


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
@pytest.mark.parametrize("regions", [{"us-east": 3, "eu-west": 3, "ap-south": 3},
                                     {"us-east": 9, "eu-west": 0, "ap-south": 0}], ids=["spread", "central"])
def test_plans_cleanly_on_every_topology_shape(path: Path, regions: dict[str, int]) -> None:
    doc = yaml.safe_load(path.read_text())
    config = load_configuration(doc["configuration"])
    plan = tg.plan_experiment(doc, _status(regions), config)
    assert plan and not [p for p in plan if "error" in p], plan


def test_progressive_node_loss_at_intensity_zero_breaks_nothing() -> None:
    doc = yaml.safe_load((EXPERIMENTS / "progressive-node-loss.yaml").read_text())
    status = _status({"us-east": 3, "eu-west": 3, "ap-south": 3})
    for intensity, expected in ((0, 0), (1, 1), (4, 4)):
        config = {**load_configuration(doc["configuration"]), "aftershock_intensity": intensity}
        (kill,) = [p for p in tg.plan_experiment(doc, status, config) if p["func"] == "kill_node"]
        assert len(kill["targets"]) == expected
