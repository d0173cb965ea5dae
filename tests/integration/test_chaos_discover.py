"""`discover()` lists every action and probe (chaoslib probes the platform with a subprocess, hence not a unit test)."""

from __future__ import annotations

from chaos import discover


def test_discover_lists_every_action_and_probe() -> None:
    found = {(a["type"], a["name"]): a for a in discover(discover_system=False)["activities"]}
    actions = {"kill_node", "kill_agent", "kill_region", "restore_region", "partition_regions", "add_latency",
               "add_loss", "heal_links", "pause_node", "resume_node", "churn", "heal"}
    probes = {"availability", "p99_latency", "agents_alive", "sessions_lost", "nodes_alive"}
    assert actions <= {n for t, n in found if t == "action"}
    assert probes <= {n for t, n in found if t == "probe"}
    for activity in found.values():
        args = [a["name"] for a in activity["arguments"]]
        assert args[-2:] == ["configuration", "secrets"], activity["name"]
