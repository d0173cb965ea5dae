"""The lab's topologies at cluster scale: a topology rendered as Kubernetes manifests, as data.

Per region with nodes, a Deployment of agent pods pinned to the region's zone (required node affinity on
the zone label), and one more per node class placed there (``agents-REGION-CLASS``, sized by the class),
a Service per region, hub Deployments and Services where the topology has hubs (the
centralized hub in its home region and its warm standby; one hub per region for hybrid), one entry Service
that clients use (the hubs, or every agent for decentralized), Prometheus scrape annotations on every pod,
the topology itself in a ConfigMap, and the load generator as a Job that writes the request log to its
standard output. A lab node becomes one pod hosting ``agents_per_node`` agents; ``scale`` multiplies the
pods, so the same comparison runs with thousands of agents.

Everything is built as dicts and dumped with ``yaml.safe_dump``: a hostile topology (names, descriptions)
cannot inject a document, only fail validation. Names are made DNS-safe and label values label-safe here.
The image is the user's (Aftershock ships none): it must serve tasks and ``/metrics`` on ``port``, and have
the ``aftershock`` command for the load generator Job.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

import yaml

from core.errors import TopologyError
from engines.kubernetes.labels import OPT_IN_LABEL, OPT_IN_VALUE, check_label_value
from engines.kubernetes.target import DEFAULT_ZONE_LABEL
from fleet.topology import Topology

__all__ = ["render_manifests", "dump_manifests", "slug", "APP_LABEL", "ROLE_LABEL", "REGION_LABEL", "PART_OF",
           "DEFAULT_IMAGE", "PORT"]

APP_LABEL = "app.kubernetes.io/name"
PART_OF = "app.kubernetes.io/part-of"
ROLE_LABEL = "aftershock.io/role"
REGION_LABEL = "aftershock.io/region"
TOPOLOGY_LABEL = "aftershock.io/topology"
CLASS_LABEL = "aftershock.io/class"  # node classes (fleet/nodeclasses.py): only on topologies that declare them
DEFAULT_IMAGE = "aftershock-agent:latest"
PORT = 8080
_DNS = re.compile(r"[^a-z0-9-]+")


def slug(text: str, limit: int = 63) -> str:
    """A DNS label from any text (lowercase, ``-`` for the rest, at most ``limit``); a hash keeps it unique
    when characters had to go."""
    out = _DNS.sub("-", text.lower()).strip("-")
    if out != text or len(out) > limit:
        digest = hashlib.sha1(text.encode()).hexdigest()[:6]
        out = f"{out[: limit - 7].strip('-')}-{digest}".strip("-")
    return out or "aftershock"


def _labels(topology: Topology, role: str, region: str | None) -> dict[str, str]:
    labels = {APP_LABEL: f"aftershock-{role}", PART_OF: "aftershock", ROLE_LABEL: role,
              TOPOLOGY_LABEL: slug(topology.name)}
    if region:
        labels[REGION_LABEL] = region
    return labels


def _env(topology: Topology, role: str, region: str) -> list[dict[str, str]]:
    values = {"AFTERSHOCK_ROLE": role, "AFTERSHOCK_REGION": region, "AFTERSHOCK_TOPOLOGY": topology.name,
              "AFTERSHOCK_KIND": topology.kind, "AFTERSHOCK_AGENTS_PER_POD": str(topology.agents_per_node),
              "AFTERSHOCK_AGENT_CONCURRENCY": str(topology.agent_concurrency),
              "AFTERSHOCK_TOPOLOGY_FILE": "/etc/aftershock/topology.json"}
    return [{"name": k, "value": v} for k, v in values.items()] + [
        {"name": "AFTERSHOCK_POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}]


def _deployment(topology: Topology, namespace: str, name: str, role: str, region: str, zone: str, replicas: int,
                image: str, zone_label: str) -> dict[str, Any]:
    selector = _labels(topology, role, region)
    pod_labels = {**selector, OPT_IN_LABEL: OPT_IN_VALUE}
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": selector},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": pod_labels, "annotations": {
                    "prometheus.io/scrape": "true", "prometheus.io/port": str(PORT), "prometheus.io/path": "/metrics"}},
                "spec": {
                    "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [{"matchExpressions": [
                            {"key": zone_label, "operator": "In", "values": [zone]}]}]}}},
                    "terminationGracePeriodSeconds": 5,
                    "volumes": [{"name": "topology", "configMap": {"name": "aftershock-topology"}}],
                    "containers": [{
                        "name": role, "image": image, "imagePullPolicy": "IfNotPresent",
                        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
                        "env": _env(topology, role, region),
                        "readinessProbe": {"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 2,
                                           "failureThreshold": 2},
                        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                      "limits": {"memory": "512Mi"}},
                        "volumeMounts": [{"name": "topology", "mountPath": "/etc/aftershock", "readOnly": True}],
                    }],
                },
            },
        },
    }


def _of_class(deployment: dict[str, Any], node_class: str, agents: int | None = None,
              concurrency: int | None = None) -> dict[str, Any]:
    """``deployment`` as the pods of one node class: the class label in its selector (so the Deployments of a
    region never select each other's pods; the region's Service still selects them all) and the class's agents
    and slots in the pods' environment. A class's last mile and churn are the lab's: a cluster's network is real."""
    spec = deployment["spec"]
    for labels in (deployment["metadata"]["labels"], spec["selector"]["matchLabels"],
                   spec["template"]["metadata"]["labels"]):
        labels[CLASS_LABEL] = node_class
    env = {"AFTERSHOCK_AGENTS_PER_POD": agents, "AFTERSHOCK_AGENT_CONCURRENCY": concurrency}
    for var in spec["template"]["spec"]["containers"][0]["env"]:
        if env.get(var["name"]) is not None:
            var["value"] = str(env[var["name"]])
    return deployment


def _class_deployments(topology: Topology, namespace: str, region: str, classes: Mapping[str, int], zone: str,
                       scale: int, image: str, zone_label: str) -> list[dict[str, Any]]:
    """One Deployment per node class placed in ``region`` (``agents-REGION-CLASS``)."""
    return [_of_class(_deployment(topology, namespace, f"agents-{region}-{name}", "agent", region, zone, count * scale,
                                  image, zone_label), name, topology.class_agents(name),
                      topology.class_concurrency(name))
            for name, count in classes.items() if count > 0]


def _service(topology: Topology, namespace: str, name: str, selector: Mapping[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "namespace": namespace, "labels": {PART_OF: "aftershock",
                                                                      TOPOLOGY_LABEL: slug(topology.name)}},
        "spec": {"selector": dict(selector), "ports": [{"name": "http", "port": PORT, "targetPort": "http"}]},
    }


def _load_job(topology: Topology, namespace: str, image: str, duration_s: int, seed: int) -> dict[str, Any]:
    w = topology.workload
    url = f"http://aftershock-entry.{namespace}.svc:{PORT}"
    command = ["aftershock", "k8s", "load", "--service-url", url, "--rate", f"{w.tasks_per_s:g}",
               "--sessions", str(w.sessions), "--work-ms", f"{w.work_time.median_ms:g}", "--timeout",
               f"{w.timeout_s:g}", "--duration", str(duration_s), "--seed", str(seed),
               "--request-log", "/dev/stdout"]
    labels = {APP_LABEL: "aftershock-loadgen", PART_OF: "aftershock", TOPOLOGY_LABEL: slug(topology.name)}
    return {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "aftershock-loadgen", "namespace": namespace, "labels": labels},
        "spec": {
            "backoffLimit": 0, "activeDeadlineSeconds": duration_s + 120, "ttlSecondsAfterFinished": 86_400,
            "template": {"metadata": {"labels": labels}, "spec": {
                "restartPolicy": "Never",
                "containers": [{"name": "loadgen", "image": image, "command": command,
                                "resources": {"requests": {"cpu": "250m", "memory": "128Mi"}}}]}},
        },
    }


def render_manifests(topology: Topology, *, image: str = DEFAULT_IMAGE, namespace: str | None = None,
                     zones: Mapping[str, str] | None = None, zone_label: str = DEFAULT_ZONE_LABEL,
                     scale: int = 1, duration_s: int = 600, seed: int = 1) -> list[dict[str, Any]]:
    """Every manifest of ``topology``, in apply order (namespace first, the load Job last).

    ``zones`` maps a region to the zone its pods are pinned to (default: the region's own name).
    """
    if not 1 <= scale <= 1000:
        raise TopologyError(f"--scale must be in 1..1000, not {scale}")
    if not image or any(c.isspace() for c in image):
        raise TopologyError(f"--image {image!r} is not an image reference")
    zones = dict(zones or {})
    unknown = sorted(set(zones) - set(topology.region_names))
    if unknown:
        raise TopologyError(f"--zone names unknown region {unknown[0]!r} (regions: {', '.join(topology.region_names)})")
    for region, zone in zones.items():
        check_label_value(zone, f"zone of region {region}")
    ns = slug(namespace or f"aftershock-{topology.name}")
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Namespace",
         "metadata": {"name": ns, "labels": {OPT_IN_LABEL: OPT_IN_VALUE, PART_OF: "aftershock"}}},
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "aftershock-topology", "namespace": ns, "labels": {PART_OF: "aftershock"},
                      "annotations": {"aftershock.io/description": topology.description[:1000]}},
         "data": {"topology.json": json.dumps(topology.model_dump(mode="json"), indent=1)}},
    ]
    zone_of = {r: zones.get(r, r) for r in topology.region_names}
    for region in topology.regions:
        docs += _class_deployments(topology, ns, region.name, region.classes, zone_of[region.name], scale, image,
                                   zone_label)
        if region.nodes == 0:
            if region.class_nodes:
                docs.append(_service(topology, ns, f"agents-{region.name}", _labels(topology, "agent", region.name)))
            continue
        agents = _deployment(topology, ns, f"agents-{region.name}", "agent", region.name, zone_of[region.name],
                             region.nodes * scale, image, zone_label)
        docs.append(_of_class(agents, "default") if topology.node_classes else agents)
        docs.append(_service(topology, ns, f"agents-{region.name}", _labels(topology, "agent", region.name)))
    hubs: list[tuple[str, str]] = []
    if topology.kind == "centralized":
        hubs.append(("hub", topology.home_region))
        if topology.hub.standby:
            hubs.append(("hub-standby", topology.hub.standby.region))
    elif topology.kind == "hybrid":
        hubs += [(f"hub-{r.name}", r.name) for r in topology.regions if r.nodes > 0]
    for name, region in hubs:
        docs.append(_deployment(topology, ns, name, "hub", region, zone_of[region], 1, image, zone_label))
        docs.append(_service(topology, ns, name, _labels(topology, "hub", region)))
    entry_role = "agent" if topology.kind == "decentralized" else "hub"
    docs.append(_service(topology, ns, "aftershock-entry",
                         {PART_OF: "aftershock", ROLE_LABEL: entry_role, TOPOLOGY_LABEL: slug(topology.name)}))
    docs.append(_load_job(topology, ns, image, int(duration_s), int(seed)))
    return docs


def dump_manifests(docs: list[dict[str, Any]]) -> str:
    """One multi-document YAML stream (``kubectl apply -f``)."""
    return "".join("---\n" + yaml.safe_dump(d, sort_keys=False) for d in docs)
