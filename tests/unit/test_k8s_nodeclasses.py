"""Node classes in the Kubernetes manifests: a Deployment per (region, class) sized by the class, selectors that
never overlap, the region's Service over all of them; topologies without classes render as before."""

from __future__ import annotations

from engines.kubernetes.manifests import CLASS_LABEL, render_manifests
from fleet.topology import load_topology


def _env(doc: dict) -> dict[str, str]:
    return {v["name"]: v.get("value") for v in doc["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_each_class_is_a_deployment_of_its_own_with_its_agents_and_slots() -> None:
    docs = render_manifests(load_topology("edge-mesh"), image="r/a:1", scale=2)
    deps = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    phones, regular = deps["agents-us-east-phone"], deps["agents-us-east"]
    assert phones["spec"]["replicas"] == 8 and regular["spec"]["replicas"] == 4
    assert (_env(phones)["AFTERSHOCK_AGENTS_PER_POD"], _env(phones)["AFTERSHOCK_AGENT_CONCURRENCY"]) == ("1", "1")
    assert (_env(regular)["AFTERSHOCK_AGENTS_PER_POD"], _env(regular)["AFTERSHOCK_AGENT_CONCURRENCY"]) == ("3", "2")
    selectors = [d["spec"]["selector"]["matchLabels"] for d in deps.values() if "us-east" in d["metadata"]["name"]]
    assert {s[CLASS_LABEL] for s in selectors} == {"default", "phone"}  # neither selects the other's pods
    for d in deps.values():
        assert d["spec"]["selector"]["matchLabels"].items() <= d["spec"]["template"]["metadata"]["labels"].items()
    service = next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "agents-us-east")
    assert CLASS_LABEL not in service["spec"]["selector"]  # clients reach the phones too


def test_a_topology_without_classes_has_no_class_label() -> None:
    docs = render_manifests(load_topology("decentralized"), image="r/a:1")
    assert not [d for d in docs if d["kind"] == "Deployment"
                and CLASS_LABEL in d["spec"]["template"]["metadata"]["labels"]]
