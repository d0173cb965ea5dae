"""Topology files: built-ins are fair, malformed files get one clear line and exit code 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aftershock.cli import main
from core.errors import TopologyError
from fleet.topology import builtin_names, load_topology

BAD = sorted((Path(__file__).parent.parent / "data" / "bad_topologies").glob("*.yaml"))

# The field (or problem) each malformed file's message must name.
EXPECTED = {
    "01_yaml_syntax": "YAML syntax error at line",
    "02_not_mapping": "expected a mapping",
    "03_unknown_kind": "kind:",
    "04_missing_regions": "regions: required field is missing",
    "05_negative_nodes": "regions.0.nodes:",
    "06_unknown_field": "agents_per_nod: unknown field",
    "07_latency_unknown_region": "unknown region 'mars'",
    "08_duplicate_region": "duplicate region 'us-east'",
    "09_split_unknown_region": "workload.client_split: unknown region 'eu-west'",
    "10_wrong_type": "regions.0.nodes:",
    "11_timeout_above_period": "probe_timeout_s must be smaller than probe_period_s",
    "12_standby_same_region": "standby must be in another region",
    "13_no_nodes": "no region has nodes",
    "14_hub_on_decentralized": "only centralized topologies place a hub",
    "15_bad_latency_key": "must be 'SRC/DST'",
    "16_tab_indent": "YAML syntax error",
    "17_empty": "expected a mapping",
}


def test_builtins_are_fair() -> None:
    topologies = [load_topology(name) for name in ("centralized", "decentralized", "hybrid")]
    assert {t.total_agents for t in topologies} == {27}
    assert {t.total_nodes for t in topologies} == {9}
    assert len({t.workload.model_dump_json() for t in topologies}) == 1
    assert len({tuple(t.region_names) for t in topologies}) == 1
    assert {t.agent_concurrency for t in topologies} == {2}
    assert set(builtin_names()) >= {"centralized", "decentralized", "hybrid"}


def test_latency_is_symmetric_unless_both_directions_given() -> None:
    topo = load_topology("decentralized")
    assert topo.link_latency_ms("us-east", "eu-west") == topo.link_latency_ms("eu-west", "us-east") == 40
    assert topo.link_latency_ms("us-east", "us-east") == 0


def test_corpus_is_complete() -> None:
    assert len(BAD) >= 10
    assert {p.stem for p in BAD} == set(EXPECTED)


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_malformed_topology_is_one_line_naming_file_and_field(path: Path, capsys, settings) -> None:
    with pytest.raises(TopologyError) as info:
        load_topology(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(str(path))
    assert EXPECTED[path.stem] in message
    assert main(["topology", "validate", str(path)], settings=settings) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_lab_up_with_bad_topology_exits_2_without_traceback(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "aftershock.cli", "lab", "up", str(BAD[5])],
        capture_output=True, text=True, timeout=60, env={"AFTERSHOCK_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "unknown field" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "labs").exists() or not any((tmp_path / "labs").iterdir())


def test_unknown_builtin_name_lists_the_builtins() -> None:
    with pytest.raises(TopologyError, match=r"built-ins: (.*, )?centralized, (.*, )?decentralized, (.*, )?edge-mesh, "
                                            r"(.*, )?hybrid\b"):
        load_topology("ring")
