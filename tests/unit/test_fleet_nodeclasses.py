"""Node classes (fleet/nodeclasses.py) in the topology model, the capacity, the plan and the link layer's draws:
validated with one line per mistake, counted per class, named apart, and nothing changes without them."""

from __future__ import annotations

import random
from typing import Any

import pytest

from core.errors import TopologyError
from core.records import LabStatus
from fleet.nodeclasses import ClassLink
from fleet.plan import plan_nodes, planned_status
from fleet.supervisor.devices import churning_nodes, class_fields
from fleet.supervisor.lastmile import LastMiles, class_sources, needs_local_proxy
from fleet.supervisor.records import NodeRecord, Roster
from fleet.topology import builtin_names, load_topology, parse_topology
from results.cost import _agents_and_slots


def _topo(**extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "edge", "kind": "decentralized", "agents_per_node": 3, "agent_concurrency": 2,
        "regions": [{"name": "a", "nodes": 2, "classes": {"phone": 3}}, {"name": "b", "nodes": 1}],
        "node_classes": {"phone": {"agents_per_node": 1, "agent_concurrency": 1,
                                   "link": {"latency_ms": 30, "loss": 0.01},
                                   "churn": {"up_s": 20, "down_s": 5}}},
    }
    data.update(extra)
    return data


@pytest.mark.parametrize(("change", "message"), [
    ({"regions": [{"name": "a", "nodes": 1, "classes": {"tablet": 2}}]},
     "x.yaml: (top level): regions.0.classes: unknown node class 'tablet' (classes: phone)"),
    ({"regions": [{"name": "a", "nodes": 1, "classes": {"phone": -1}}]},
     "x.yaml: regions.0.classes: phone: count -1 is outside 0..200"),
    ({"node_classes": {"phone": {"link": {"loss": 1.5}}}},
     "x.yaml: node_classes.phone.link.loss: Input should be less than or equal to 1"),
    ({"node_classes": {"phone": {"link": {"latency_ms": -3}}}},
     "x.yaml: node_classes.phone.link.latency_ms: Input should be greater than or equal to 0"),
    ({"node_classes": {"phone": {"churn": {"up_s": 10}}}},
     "x.yaml: node_classes.phone.churn.down_s: required field is missing"),
    ({"node_classes": {"phone": {"churn": {"up_s": 10, "down_s": 2, "distribution": "weibull"}}}},
     "x.yaml: node_classes.phone.churn.distribution: Input should be 'exponential', 'uniform' or 'fixed'"),
    ({"node_classes": {"phone": {"agents_per_node": 0}}},
     "x.yaml: node_classes.phone.agents_per_node: Input should be greater than or equal to 1"),
    ({"node_classes": {"phone": {"colour": "red"}}},
     "x.yaml: node_classes.phone.colour: unknown field (check the spelling; see docs/topologies.md)"),
    ({"node_classes": {"phone": {}, "n": {}}},
     "x.yaml: (top level): node_classes: class name 'n' must be 1-20 lowercase letters, not default or n"),
    ({"node_classes": {"phone": {}, "cam2": {}}},
     "x.yaml: (top level): node_classes: class name 'cam2' must be 1-20 lowercase letters, not default or n"),
])
def test_a_mistake_in_node_classes_is_one_line_naming_the_field(change: dict, message: str) -> None:
    with pytest.raises(TopologyError) as exc:
        parse_topology(_topo(**change), "x.yaml")
    assert str(exc.value) == message


def test_a_region_of_devices_only_is_a_topology_and_counts_per_class() -> None:
    topo = parse_topology(_topo(regions=[{"name": "a", "nodes": 0, "classes": {"phone": 4}}]))
    assert (topo.total_nodes, topo.total_agents) == (4, 4)
    cap = topo.capacity()
    assert cap.slots == 4 and cap.per_class == {"default": 0.0, "phone": pytest.approx(4 / cap.mean_work_s)}


def test_capacity_counts_each_class_with_its_own_agents_and_slots() -> None:
    topo = parse_topology(_topo())
    cap = topo.capacity()
    assert cap.slots == 3 * 3 * 2 + 3 * 1 * 1  # three default nodes of 3x2, three phones of 1x1
    assert cap.per_region["a"] == pytest.approx((2 * 6 + 3) / cap.mean_work_s)
    assert cap.per_class["phone"] == pytest.approx(3 / cap.mean_work_s)
    assert (topo.total_nodes, topo.total_agents) == (6, 12)
    assert topo.churning_classes == ["phone"]


@pytest.mark.parametrize("name", [n for n in builtin_names() if n != "edge-mesh"])
def test_a_topology_without_classes_is_unchanged(name: str) -> None:
    topo = load_topology(name)
    assert topo.node_classes == {} and topo.capacity().per_class == {}
    assert all(n.node_class == "default" for n in plan_nodes(topo))
    assert all(n.name.rsplit("-", 1)[1].startswith(("n", "hub")) for n in plan_nodes(topo))
    assert not needs_local_proxy(topo) and churning_nodes(topo) == []
    rec = NodeRecord("us-east-n1", "us-east", "agent", ["us-east-n1-a1"])
    assert class_fields(topo, rec, proxy=None, no_replace=[]) == {}  # type: ignore[arg-type]


def test_the_plan_names_devices_by_class_and_sizes_them_by_class() -> None:
    topo = parse_topology(_topo())
    planned = {n.name: n for n in plan_nodes(topo)}
    assert [n for n in planned if n.startswith("a-")] == ["a-n1", "a-n2", "a-phone1", "a-phone2", "a-phone3"]
    assert planned["a-phone2"].node_class == "phone" and planned["a-phone2"].agents == ["a-phone2-a1"]
    assert planned["a-n1"].node_class == "default" and len(planned["a-n1"].agents) == 3
    status = planned_status(topo)
    assert {n["name"]: n["class"] for n in status["nodes"]}["a-phone3"] == "phone"
    assert churning_nodes(topo) == ["a-phone1", "a-phone2", "a-phone3"]


def test_a_hybrid_region_of_devices_only_gets_its_hub() -> None:
    regions = [{"name": "a", "nodes": 1}, {"name": "b", "nodes": 0, "classes": {"phone": 2}}]
    topo = parse_topology(_topo(kind="hybrid", replication=1, regions=regions))
    planned = {n.name: n for n in plan_nodes(topo)}
    assert planned["b-hub"].role == "hub" and planned["b-phone1"].hub == "b-hub"


def test_the_edge_mesh_builtin_places_four_churning_phones_per_region() -> None:
    topo = load_topology("edge-mesh")
    assert topo.kind == "decentralized" and topo.description
    assert [r.classes for r in topo.regions] == [{"phone": 4}] * 3
    phone = topo.node_classes["phone"]
    assert (phone.agents_per_node, phone.agent_concurrency, phone.link.latency_ms, phone.link.loss) == (1, 1, 30, 0.01)
    assert phone.churn is not None
    assert class_sources(topo) == [("us-east", "phone"), ("eu-west", "phone"), ("ap-south", "phone")]
    # the worst round trip (phone to phone across the longest link, jitter at its worst) stays below the timeout
    worst_ms = 2 * (max(topo.latency_ms.values()) + 2 * (phone.link.latency_ms + phone.link.jitter_ms))
    assert worst_ms < 1000 * topo.membership.probe_timeout_s
    assert 0.02 < topo.capacity().utilisation(topo.workload.tasks_per_s) < 0.5


def test_the_roster_indexes_ports_with_their_class() -> None:
    roster = Roster("x", ["a"])
    rec = NodeRecord("a-phone1", "a", "agent", ["a-phone1-a1"], node_class="phone",
                     node_url="http://127.0.0.1:4001", agent_urls={"a-phone1-a1": "http://127.0.0.1:4002"})
    roster.index_ports(rec)
    assert (roster.class_of_port(4002), roster.region_of_port(4002), roster.class_of_port(4003)) == ("phone", "a", None)
    assert rec.as_status()["class"] == "phone"


def test_a_last_mile_adds_both_ends_latency_and_drops_at_the_classes_rate() -> None:
    miles = LastMiles({"phone": ClassLink(latency_ms=30, jitter_ms=10, loss=0.05), "box": ClassLink()},
                      random.Random(3))
    assert set(miles.links) == {"phone"}  # a class with a perfect link costs nothing
    assert miles.leg([None, "box"]).extra_ms == 0 and not miles.leg([None, None]).dropped
    legs = [miles.leg(["phone", None]) for _ in range(4000)]
    kept = [leg.extra_ms for leg in legs if not leg.dropped]
    assert min(kept) >= 30 and max(kept) <= 40 and 34 < sum(kept) / len(kept) < 36
    assert 0.04 < sum(leg.dropped for leg in legs) / len(legs) < 0.06
    both = [miles.leg(["phone", "phone"]).extra_ms for _ in range(200)]
    assert min(both) >= 60 and max(both) <= 80  # a call between two devices crosses both last miles
    again = LastMiles({"phone": ClassLink(latency_ms=30, jitter_ms=10, loss=0.05)}, random.Random(3))
    assert [again.leg(["phone", None]) for _ in range(4000)] == legs  # seeded


def test_the_typed_status_reads_each_nodes_class_and_keeps_the_key() -> None:
    status = LabStatus.from_json(planned_status(parse_topology(_topo())))
    assert {n.name: n.node_class for n in status.nodes}["a-phone1"] == "phone"
    assert status.node("a-n1").node_class == "default"  # type: ignore[union-attr]
    assert LabStatus.from_json({**status.to_json(), "nodes": [{"name": "x", "region": "a"}]}).nodes[0].node_class \
        == "default"  # a status written before node classes
    assert status.to_json()["nodes"][2]["class"] == "phone"


def test_cost_counts_each_class_with_its_agents_and_slots() -> None:
    agents, slots = _agents_and_slots(load_topology("edge-mesh").model_dump(mode="json"))
    assert agents == {"us-east": 10, "eu-west": 10, "ap-south": 10}
    assert slots == pytest.approx(48 / 30)  # 36 slots of regular agents and 12 of phones over 30 agents
    plain, slots = _agents_and_slots(load_topology("decentralized").model_dump(mode="json"))
    assert plain == {"us-east": 9, "eu-west": 9, "ap-south": 9} and slots == 2
