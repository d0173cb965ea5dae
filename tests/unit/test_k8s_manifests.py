"""`aftershock k8s manifests`: every built-in topology and a hostile topology file render manifests that
validate offline against the Kubernetes OpenAPI schemas (kubernetes-validate, strict: no unknown field)."""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from core.errors import TopologyError
from engines.kubernetes.labels import OPT_IN_LABEL
from engines.kubernetes.manifests import dump_manifests, render_manifests, slug
from fleet.topology import builtin_names, load_topology

VERSION = kubernetes_validate.utils.latest_version()
DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9])?$")

HOSTILE = """
name: "Evil.Topology_NAME--with.dots_and_CAPS-xxxxxxxxxxxxxxxxxxxxxxxxx"
kind: hybrid
description: "one\\n---\\napiVersion: rbac.authorization.k8s.io/v1\\nkind: ClusterRoleBinding\\n{{ x }} '\\" <b>"
regions:
  - {name: a-region-name-that-is-thirty-on, nodes: 200}
  - {name: b, nodes: 0}
  - {name: c, nodes: 1}
agents_per_node: 100
workload: {tasks_per_s: 100000, sessions: 1000000, timeout_s: 120}
"""


def _validate(docs: list[dict]) -> None:
    for doc in yaml.safe_load_all(dump_manifests(docs)):  # what the user applies, parsed back
        kubernetes_validate.validate(doc, VERSION, strict=True)
        meta = doc["metadata"]
        assert DNS_LABEL.match(meta["name"]), meta["name"]
        assert "namespace" not in meta or DNS_LABEL.match(meta["namespace"])
        labels = dict(meta.get("labels") or {})
        if doc["kind"] in ("Deployment", "Job"):
            labels.update(doc["spec"]["template"]["metadata"]["labels"])
        for value in labels.values():
            assert LABEL_VALUE.match(value), value


@pytest.mark.parametrize("name", builtin_names())
def test_builtin_topologies_render_valid_manifests(name: str) -> None:
    topo = load_topology(name)
    docs = render_manifests(topo, image="registry.local/agents:1.2", scale=10)
    _validate(docs)
    kinds = [d["kind"] for d in docs]
    assert kinds[0] == "Namespace" and kinds[-1] == "Job"
    assert docs[0]["metadata"]["labels"][OPT_IN_LABEL] == "enabled"
    deployments = [d for d in docs if d["kind"] == "Deployment"]
    agents = [d for d in deployments if d["spec"]["template"]["metadata"]["labels"]["aftershock.io/role"] == "agent"]
    assert sum(d["spec"]["replicas"] for d in agents) == topo.total_nodes * 10
    for d in deployments:
        pod = d["spec"]["template"]
        assert pod["metadata"]["labels"][OPT_IN_LABEL] == "enabled"
        assert pod["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
        term = pod["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        expr = term["nodeSelectorTerms"][0]["matchExpressions"][0]
        assert expr["key"] == "topology.kubernetes.io/zone"
        assert expr["values"] == [pod["metadata"]["labels"]["aftershock.io/region"]]
        assert pod["spec"]["containers"][0]["image"] == "registry.local/agents:1.2"
    hubs = len(deployments) - len(agents)
    assert hubs == {"centralized": 1, "decentralized": 0, "hybrid": 3}[topo.kind]
    job = docs[-1]
    assert job["spec"]["template"]["spec"]["containers"][0]["command"][:3] == ["aftershock", "k8s", "load"]


def test_zones_map_regions_to_the_clusters_zone_names() -> None:
    docs = render_manifests(load_topology("decentralized"), zones={"us-east": "us-east-1a"},
                            zone_label="failure-domain.example/zone")
    _validate(docs)
    dep = next(d for d in docs if d["metadata"]["name"] == "agents-us-east")
    expr = dep["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"][0]
    assert expr == {"key": "failure-domain.example/zone", "operator": "In", "values": ["us-east-1a"]}


def test_a_hostile_topology_file_renders_safe_valid_manifests(tmp_path: Path) -> None:
    path = tmp_path / "hostile.yaml"
    path.write_text(HOSTILE)
    topo = load_topology(path)
    docs = render_manifests(topo)
    _validate(docs)
    text = dump_manifests(docs)
    parsed = list(yaml.safe_load_all(text))
    assert len(parsed) == len(docs)  # the description's "---" did not start a document
    assert "ClusterRoleBinding" not in {d["kind"] for d in parsed}
    assert parsed[1]["metadata"]["annotations"]["aftershock.io/description"] == topo.description
    assert len(parsed[0]["metadata"]["name"]) <= 63
    assert not any(d["metadata"]["name"] == "agents-b" for d in parsed)  # no pods for a region without nodes


@pytest.mark.parametrize("kwargs,match", [
    ({"scale": 0}, "--scale"), ({"image": "two words"}, "--image"),
    ({"zones": {"mars": "z"}}, "unknown region 'mars'"), ({"zones": {"us-east": "bad zone!"}}, "label value"),
])
def test_bad_options_fail_in_one_line(kwargs: dict, match: str) -> None:
    with pytest.raises((TopologyError, Exception), match=match) as exc:
        render_manifests(load_topology("hybrid"), **kwargs)
    assert "\n" not in str(exc.value)


def test_slug_makes_dns_labels_and_keeps_distinct_names_distinct() -> None:
    assert slug("decentralized") == "decentralized"
    assert DNS_LABEL.match(slug("A_B.c")) and slug("A_B.c") != slug("a-b-c")
    assert len(slug("x" * 200)) <= 63 and slug("___") != ""
