"""Chaos Mesh ``NetworkChaos`` objects for the link faults between two zones, as pure functions.

A directed region pair of the lab is, on a cluster, the selected pods on nodes of zone ``src`` talking to
the selected pods on nodes of zone ``dst``: Chaos Mesh selects both sides by namespace, labels (the target's
selector plus the opt-in label) and ``nodeSelectors`` (the zone label), and applies ``delay``, ``loss`` or
``partition`` in the direction ``to``. The object lives until Aftershock deletes it (no ``duration``), and
carries the labels that let a rollback, ``aftershock target heal`` or the next start find it.
"""

from __future__ import annotations

import hashlib
from typing import Any

from engines.kubernetes.labels import MANAGED_LABEL, MANAGED_VALUE, RUN_LABEL, TARGET_LABEL, to_chaos_mesh
from engines.kubernetes.target import KubeTarget

__all__ = ["GROUP", "VERSION", "PLURAL", "CRD_NAME", "INSTALL_HINT", "LINK_FAULTS", "object_name",
           "network_chaos", "SRC_LABEL", "DST_LABEL", "FAULT_LABEL"]

GROUP, VERSION, PLURAL = "chaos-mesh.org", "v1alpha1", "networkchaos"
CRD_NAME = f"{PLURAL}.{GROUP}"
INSTALL_HINT = ("install Chaos Mesh in the cluster (helm install chaos-mesh chaos-mesh/chaos-mesh -n chaos-mesh "
                "--create-namespace, see chaos-mesh.org/docs)")
#: Link fault -> Chaos Mesh action.
LINK_FAULTS = {"latency": "delay", "loss": "loss", "cut": "partition"}
SRC_LABEL, DST_LABEL, FAULT_LABEL = "aftershock.io/src-zone", "aftershock.io/dst-zone", "aftershock.io/fault"


def object_name(target: str, src: str, dst: str, fault: str, generation: int) -> str:
    """A DNS-safe name, unique per target, pair, fault and generation (a replaced fault gets a new name, so
    the old object's finalizer never blocks the new one)."""
    digest = hashlib.sha1(f"{target}/{src}/{dst}".encode()).hexdigest()[:10]
    return f"aftershock-{LINK_FAULTS[fault]}-{digest}-{generation}"


def _side(target: KubeTarget, zone: str) -> dict[str, Any]:
    return {"namespaces": [target.namespace], **to_chaos_mesh(target.selector),
            "nodeSelectors": {target.zone_label: zone}}


def network_chaos(target: KubeTarget, *, run_id: str, src: str, dst: str, fault: str, value: float,
                  generation: int) -> dict[str, Any]:
    """The ``NetworkChaos`` body for one fault on the directed pair ``src -> dst``.

    ``fault`` is ``latency`` (``value`` ms of one-way delay), ``loss`` (``value`` as a 0..1 fraction) or
    ``cut`` (a partition; ``value`` ignored).
    """
    action = LINK_FAULTS[fault]
    spec: dict[str, Any] = {"action": action, "mode": "all", "selector": _side(target, src), "direction": "to",
                            "target": {"mode": "all", "selector": _side(target, dst)}}
    if fault == "latency":
        spec["delay"] = {"latency": f"{max(0.0, float(value)):g}ms"}
    elif fault == "loss":
        spec["loss"] = {"loss": f"{min(100.0, max(0.0, float(value) * 100)):g}"}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "NetworkChaos",
        "metadata": {
            "name": object_name(target.name, src, dst, fault, generation),
            "namespace": target.namespace,
            "labels": {MANAGED_LABEL: MANAGED_VALUE, TARGET_LABEL: target.name, RUN_LABEL: run_id,
                       SRC_LABEL: src, DST_LABEL: dst, FAULT_LABEL: fault},
        },
        "spec": spec,
    }
