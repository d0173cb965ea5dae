"""The Kubernetes engine: attach to a user's deployment and break it through the official clients.

It never creates the user's workload. Agents are the pods the target's selector picks, hubs the pods its
hub selector picks, regions the zones (``topology.kubernetes.io/zone`` or the target's zone label) of the
nodes they run on. Faults:

- agent or node loss: deletion of the pod (chaostoolkit-kubernetes ``terminate_pods``; the pod's controller
  decides what comes back, exactly as after a real loss);
- zone loss: cordon of the zone's nodes (chaostoolkit-kubernetes ``cordon_node``, each node labelled with
  the run id first) plus deletion of the zone's selected pods; ``restore_region`` uncordons (``uncordon_node``);
- latency, loss and partitions between zones: Chaos Mesh ``NetworkChaos`` custom objects (``chaosmesh``);
- pause, restart and CPU throttling: refused with the reason (:class:`UnsupportedFault`).

Safety, checked again before every fault from a fresh listing: only pods carrying ``aftershock.io/chaos:
enabled`` in a namespace carrying the same label, never ``kube-system``. The first run against a target is a
dry run (faults are recorded as "would hit", nothing is touched). Every object and cordon carries the run id
and is undone by ``heal`` (rollbacks, ``aftershock target heal``) and by the next run's start after a crash.
"""

from __future__ import annotations

import logging
import re
import secrets as _secrets
import time
from collections.abc import Callable, Iterable
from typing import Any

from chaosk8s.node import actions as k8s_node
from chaosk8s.pod import actions as k8s_pod
from kubernetes.client import V1Node, V1Pod

from core.engine import FAULTS
from core.errors import EngineError, ExperimentError, UnsupportedFault
from core.logs import EventLog
from core.records import AgentStatus, LabStatus, LinkStatus, NodeStatus
from core.settings import Settings
from core.stop import check_not_stopped
from engines.kubernetes import chaosmesh
from engines.kubernetes.cluster import ClusterApi
from engines.kubernetes.labels import (
    CORDON_RUN_LABEL,
    CORDON_TARGET_LABEL,
    FORBIDDEN_NAMESPACES,
    MANAGED_LABEL,
    MANAGED_VALUE,
    OPT_IN_LABEL,
    OPT_IN_VALUE,
    TARGET_LABEL,
    matches,
    parse_selector,
    with_opt_in,
)
from engines.kubernetes.ledger import Ledger, alive, process_token
from engines.kubernetes.target import KubeTarget
from engines.targets import targets_dir

__all__ = ["KubernetesEngine", "CAPABLE", "REFUSED"]

log = logging.getLogger("aftershock.engines.kubernetes")

#: Faults this engine performs (``set_link`` only where Chaos Mesh is installed).
CAPABLE = frozenset({"kill_node", "kill_agent", "kill_region", "restore_region", "set_link", "heal"})
#: Faults refused, and why (the one line an experiment fails with).
REFUSED = {
    "pause_node": "Kubernetes cannot freeze a pod's processes through its API; scaling to zero or an "
                  "ephemeral debug container would be a different fault (a loss, or nothing), not a pause",
    "resume_node": "nothing is ever paused on Kubernetes (pause_node is refused)",
    "restart_node": "a deleted pod comes back only if its controller recreates it; Aftershock never creates "
                    "the user's workload",
    "throttle_node": "a pod's CPU limit cannot be lowered in place on every cluster, and Chaos Mesh's "
                     "StressChaos adds load instead of capping CPU time: not the lab's throttle",
    "unthrottle_node": "nothing is ever throttled on Kubernetes (throttle_node is refused)",
}
assert CAPABLE | set(REFUSED) == FAULTS


def _labels(obj: Any) -> dict[str, str]:
    return dict(getattr(obj.metadata, "labels", None) or {})


def _pod_alive(pod: V1Pod) -> bool:
    if pod.metadata.deletion_timestamp is not None or (pod.status is None) or pod.status.phase != "Running":
        return False
    return any(c.type == "Ready" and c.status == "True" for c in (pod.status.conditions or []))


def _pod_state(pod: V1Pod) -> str:
    if pod.metadata.deletion_timestamp is not None:
        return "killed"
    phase = pod.status.phase if pod.status else None
    if phase in ("Succeeded", "Failed"):
        return "stopped"
    return "running" if _pod_alive(pod) else "starting"


class KubernetesEngine:
    """One attached target (``core.engine.Engine``). ``api`` is the seam to the cluster."""

    engine = "kubernetes"

    def __init__(self, settings: Settings, target: KubeTarget, *, api: ClusterApi | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.target = target
        self.name = target.name
        self.api = api or ClusterApi(target.kube_context)
        self.clock = clock
        self.ledger = Ledger(settings, target.name)
        self.event_log_path = targets_dir(settings) / f"{target.name}.events.jsonl"
        self._chaos_mesh: bool | None = None

    # ---- safety -----------------------------------------------------------------------------------
    def check_namespace(self) -> None:
        """The namespace exists, is not a system namespace and carries the opt-in label."""
        ns_name = self.target.namespace
        if ns_name in FORBIDDEN_NAMESPACES:
            raise EngineError(f"namespace {ns_name} is never a chaos target")
        core = self.api.core()
        ns = self.api.call(f"reading namespace {ns_name}",
                           lambda: core.read_namespace(ns_name, _request_timeout=self.api.timeout_s), allow_404=True)
        if ns is None:
            raise EngineError(f"namespace {ns_name!r} does not exist in kube context {self.api.context}")
        if _labels(ns).get(OPT_IN_LABEL) != OPT_IN_VALUE:
            raise EngineError(f"namespace {ns_name} lacks the opt-in label {OPT_IN_LABEL}={OPT_IN_VALUE}; "
                              f"label it with `kubectl --context {self.api.context} label namespace {ns_name} "
                              f"{OPT_IN_LABEL}={OPT_IN_VALUE}` to let Aftershock break it")

    def _list_pods(self, selector: str) -> list[V1Pod]:
        core, ns, sel = self.api.core(), self.target.namespace, with_opt_in(selector)
        pods = self.api.call(f"listing pods {sel!r} in {ns}", lambda: core.list_namespaced_pod(
            ns, label_selector=sel, _request_timeout=self.api.timeout_s))
        # The API server applied the selector; check again here so a stale or careless server cannot widen it.
        reqs = parse_selector(sel)
        return [p for p in (pods.items or []) if matches(reqs, _labels(p)) and p.metadata.namespace in (None, ns)]

    def pods(self) -> list[tuple[V1Pod, str]]:
        """Every targeted pod with its role (``hub`` wins when both selectors pick a pod)."""
        self.check_namespace()
        hubs = self._list_pods(self.target.hub_selector) if self.target.hub_selector else []
        hub_names = {p.metadata.name for p in hubs}
        agents = [p for p in self._list_pods(self.target.selector) if p.metadata.name not in hub_names]
        return sorted([(p, "hub") for p in hubs] + [(p, "agent") for p in agents], key=lambda x: x[0].metadata.name)

    def _nodes(self, label_selector: str | None = None) -> list[V1Node]:
        core = self.api.core()
        kwargs: dict[str, Any] = {"_request_timeout": self.api.timeout_s}
        if label_selector:
            kwargs["label_selector"] = label_selector
        return list(self.api.call("listing nodes", lambda: core.list_node(**kwargs)).items or [])

    def _zone(self, node: V1Node) -> str:
        return _labels(node).get(self.target.zone_label, "") or "no-zone"

    def preflight(self) -> dict[str, Any]:
        """What ``target add`` checks before storing anything: the namespace opted in, pods selected (and
        hubs, when a hub selector is given), nodes with zones. Returns a summary for the user."""
        pods = self.pods()
        core, ns = self.api.core(), self.target.namespace
        for role, selector in (("agent", self.target.selector), ("hub", self.target.hub_selector)):
            if selector is None or any(r == role for _, r in pods):
                continue
            plain = self.api.call(f"listing pods {selector!r} in {ns}", lambda s=selector: core.list_namespaced_pod(
                ns, label_selector=s, _request_timeout=self.api.timeout_s))
            unlabelled = len(plain.items or [])
            flag = "--selector" if role == "agent" else "--hub-selector"
            raise EngineError(
                f"{flag} {selector!r} matches no pod labelled {OPT_IN_LABEL}={OPT_IN_VALUE} in namespace {ns} "
                f"({unlabelled} match without the opt-in label); fix the selector or label the pods' template")
        zones = sorted({self._zone(n) for n in self._nodes()})
        return {"target": self.name, "context": self.api.context, "namespace": self.target.namespace,
                "agents": sum(r == "agent" for _, r in pods), "hubs": sum(r == "hub" for _, r in pods),
                "zones": zones, "chaos_mesh": self.chaos_mesh_installed()}

    # ---- status -------------------------------------------------------------------------------------
    def status(self) -> LabStatus:
        """The target as the contract's status: one node (and one agent) per pod, zones as regions."""
        pods = self.pods()
        zones = {n.metadata.name: self._zone(n) for n in self._nodes()}
        state = self.ledger.read()
        nodes = []
        for pod, role in pods:
            node_name = pod.spec.node_name if pod.spec else None
            ip = pod.status.pod_ip if pod.status else None
            annotations = dict(pod.metadata.annotations or {})
            metrics_url = ""
            if ip and annotations.get("prometheus.io/scrape") == "true" and annotations.get("prometheus.io/port"):
                metrics_url = f"http://{ip}:{annotations['prometheus.io/port']}" \
                              f"{annotations.get('prometheus.io/path', '/metrics')}"
            up = _pod_alive(pod)
            nodes.append(NodeStatus(
                name=pod.metadata.name, region=zones.get(node_name or "", "unscheduled"), role=role,
                node_url=f"http://{ip}" if ip else "", metrics_url=metrics_url, alive=up, status=_pod_state(pod),
                agents=[AgentStatus(id=pod.metadata.name, url=f"http://{ip}" if ip else "", alive=up)],
                k8s_node=node_name, namespace=pod.metadata.namespace or self.target.namespace))
        regions = sorted(set(zones.values()))
        links = [LinkStatus(src=o["src"], dst=o["dst"], latency_ms=float(o["value"]) if o["fault"] == "latency" else 0,
                            loss=float(o["value"]) if o["fault"] == "loss" else 0.0, cut=o["fault"] == "cut")
                 for o in state["objects"].values()]
        return LabStatus(
            name=self.name, topology=self.name, kind="", engine=self.engine, ready=any(n.alive for n in nodes),
            regions=regions, nodes=nodes, links=_merge_links(links), request_log=state.get("request_log") or "",
            event_log=str(self.event_log_path), token_file=str(targets_dir(self.settings) / f"{self.name}.token"),
            context=self.api.context, namespace=self.target.namespace, service_url=self.target.service_url or "",
            armed=bool(state["armed"]), cordoned=sorted(state["cordoned"]))

    # ---- capabilities -------------------------------------------------------------------------------
    def chaos_mesh_installed(self) -> bool:
        if self._chaos_mesh is None:
            ext = self.api.apiextensions()
            crd = self.api.call(f"reading the {chaosmesh.CRD_NAME} CRD", lambda: ext.read_custom_resource_definition(
                chaosmesh.CRD_NAME, _request_timeout=self.api.timeout_s), allow_404=True)
            self._chaos_mesh = crd is not None
        return self._chaos_mesh

    def capabilities(self) -> frozenset[str]:
        return CAPABLE if self.chaos_mesh_installed() else CAPABLE - {"set_link"}

    def require(self, fault: str) -> None:
        """Raise the one-line :class:`UnsupportedFault` for a fault this target cannot perform."""
        if fault in REFUSED:
            raise UnsupportedFault(f"kubernetes engine cannot {fault} (target {self.name}): {REFUSED[fault]}")
        if fault == "set_link" and not self.chaos_mesh_installed():
            raise UnsupportedFault(f"kubernetes engine cannot set_link (target {self.name}): Chaos Mesh's "
                                   f"{chaosmesh.CRD_NAME} CRD is not in kube context {self.api.context}; "
                                   f"{chaosmesh.INSTALL_HINT}")

    # ---- runs ----------------------------------------------------------------------------------------
    @property
    def armed(self) -> bool:
        return bool(self.ledger.read()["armed"])

    def arm(self, plan: Any = None) -> None:
        """Record a dry run's plan; the next run breaks things for real."""
        with self.ledger.update() as state:
            state["armed"] = True
            state["dry_run"] = {"at": self.clock(), "plan": plan}

    def begin_run(self, run_id: str, *, request_log: str = "") -> dict[str, Any]:
        """Own the target for ``run_id``: refuse if a live process owns it, undo what a dead one left."""
        with self.ledger.update() as state:
            run = state.get("run")
            me = process_token()
            if run and alive(run) and run.get("pid") != me["pid"]:
                raise EngineError(f"target {self.name} is in use by run {run.get('id')} (pid {run.get('pid')}); "
                                  "wait for it, or stop it and run `aftershock target heal " f"{self.name}`")
            if not state["armed"] and state.get("dry_run") and (state["dry_run"].get("run_id") != run_id):
                state["armed"] = True
            state["run"] = {"id": run_id, "started_at": self.clock(), **me}
            if request_log:  # else keep the one `aftershock k8s load --target` registered
                state["request_log"] = request_log
        leftovers = self.heal(reason="start")
        if leftovers.get("removed") or leftovers.get("uncordoned"):
            log.warning("target %s: undid what an earlier run left behind: %s", self.name, leftovers)
        return leftovers

    def end_run(self) -> dict[str, Any]:
        result = self.heal(reason="end")
        with self.ledger.update() as state:
            state["run"] = None
            state["request_log"] = ""
        return result

    def _run_id(self) -> str:
        """The run that owns the target; a bare ``chaos run`` gets a run of its own on its first fault."""
        state = self.ledger.read()
        run = state.get("run")
        if run and alive(run):
            if run.get("pid") != process_token()["pid"]:
                raise EngineError(f"target {self.name} is in use by run {run.get('id')} (pid {run.get('pid')})")
            return str(run["id"])
        run_id = f"chaos-{time.strftime('%Y%m%d-%H%M%S', time.gmtime(self.clock()))}-{_secrets.token_hex(2)}"
        self.begin_run(run_id)
        return run_id

    def _dry(self, run_id: str, action: str, **hit: Any) -> dict[str, Any] | None:
        """On an unarmed target, record what ``action`` would hit and return the result; else None."""
        with self.ledger.update() as state:
            if state["armed"]:
                return None
            dry = state.get("dry_run") or {"run_id": run_id, "at": self.clock(), "hits": []}
            dry.setdefault("hits", []).append({"action": action, **hit})
            state["dry_run"] = dry
        log.warning("target %s: first run is a dry run: %s would hit %s (nothing touched)", self.name, action, hit)
        return {"dry_run": True, "action": action, "would_hit": hit, "target": self.name}

    def _events(self) -> EventLog:
        self.event_log_path.parent.mkdir(parents=True, exist_ok=True)
        return EventLog(self.event_log_path, clock=self.clock)

    def _emit(self, kind: str, **fields: Any) -> None:
        events = self._events()
        try:
            events.emit(kind, by="aftershock", **fields)
        finally:
            events.close()

    # ---- pod faults ----------------------------------------------------------------------------------
    def _targeted(self, names: Iterable[str]) -> list[tuple[V1Pod, str]]:
        wanted = list(names)
        pods = {p.metadata.name: (p, role) for p, role in self.pods()}
        missing = [n for n in wanted if n not in pods]
        if missing:
            raise ExperimentError(
                f"pod {', '.join(map(repr, missing))} is not a target of {self.name}: only pods matching "
                f"{self.target.selector!r} (or the hub selector) with {OPT_IN_LABEL}={OPT_IN_VALUE} in namespace "
                f"{self.target.namespace} are ever hit")
        return [pods[n] for n in wanted]

    def _delete(self, pod: V1Pod, role: str, run_id: str) -> list[str]:
        name = pod.metadata.name
        deleted = self.api.call(f"deleting pod {name}", lambda: k8s_pod.terminate_pods(
            label_selector=with_opt_in(self.target.pod_selector(role)), name_pattern=f"^{re.escape(name)}$",
            all=True, grace_period=self.target.grace_period_s, ns=self.target.namespace, secrets=self.api.secrets))
        return list(deleted or [])

    def _kill_pods(self, action: str, names: list[str]) -> dict[str, Any]:
        check_not_stopped(self.settings.home, f"{action} on target {self.name}")
        run_id = self._run_id()
        targeted = self._targeted(names)
        dry = self._dry(run_id, action, pods=names)
        if dry is not None:
            return dry
        killed = []
        for pod, role in targeted:
            killed += self._delete(pod, role, run_id)
            self._emit("node_killed" if action == "kill_node" else "agent_killed", node=pod.metadata.name,
                       agent=pod.metadata.name, run_id=run_id, k8s_node=pod.spec.node_name if pod.spec else None)
        return {"target": self.name, "action": action, "killed": killed, "run_id": run_id}

    def kill_node(self, node: str) -> dict[str, Any]:
        """Delete the pod ``node`` (a pod host lost)."""
        return self._kill_pods("kill_node", [node])

    def kill_agent(self, agent: str) -> dict[str, Any]:
        """Delete the pod ``agent`` (agents are pods)."""
        return self._kill_pods("kill_agent", [agent])

    # ---- zone faults ---------------------------------------------------------------------------------
    def _check_zone(self, zone: str) -> list[V1Node]:
        nodes = [n for n in self._nodes() if self._zone(n) == zone]
        if not nodes:
            zones = sorted({self._zone(n) for n in self._nodes()})
            raise ExperimentError(f"no zone {zone!r} in kube context {self.api.context} (zones by "
                                  f"{self.target.zone_label}: {', '.join(zones) or 'none'})")
        return nodes

    def zone_nodes(self, zone: str) -> list[str]:
        """The nodes a zone loss would cordon (those not cordoned already), for plans."""
        return [n.metadata.name for n in self._check_zone(zone) if not (n.spec and n.spec.unschedulable)]

    def kill_region(self, region: str) -> dict[str, Any]:
        """Cordon every node of zone ``region`` and delete the targeted pods on them."""
        check_not_stopped(self.settings.home, f"kill_region on target {self.name}")
        run_id = self._run_id()
        nodes = self._check_zone(region)
        fresh = [n for n in nodes if not (n.spec and n.spec.unschedulable)]
        pods = [(p, role) for p, role in self.pods() if p.spec and p.spec.node_name in {n.metadata.name for n in nodes}]
        dry = self._dry(run_id, "kill_region", zone=region, cordon=[n.metadata.name for n in fresh],
                        pods=[p.metadata.name for p, _ in pods])
        if dry is not None:
            return dry
        core = self.api.core()
        cordoned = []
        for node in fresh:
            name = node.metadata.name
            with self.ledger.update() as state:  # recorded before acting: a crash here is still undone
                state["cordoned"][name] = {"zone": region, "run_id": run_id}
            self.api.call(f"labelling node {name}", lambda n=name: core.patch_node(
                n, {"metadata": {"labels": {CORDON_RUN_LABEL: run_id, CORDON_TARGET_LABEL: self.name}}},
                _request_timeout=self.api.timeout_s))
            cordoned += self.api.call(f"cordoning node {name}",
                                      lambda n=name: k8s_node.cordon_node(name=n, secrets=self.api.secrets)) or []
        killed = []
        for pod, role in pods:
            killed += self._delete(pod, role, run_id)
        self._emit("region_killed", region=region, run_id=run_id, cordoned=cordoned, killed=killed)
        return {"target": self.name, "action": "kill_region", "region": region, "cordoned": cordoned,
                "killed": killed, "run_id": run_id}

    def _uncordon(self, name: str) -> bool:
        """Uncordon a node Aftershock cordoned and drop its labels; False when the node is gone."""
        core = self.api.core()
        gone = self.api.call(f"reading node {name}", lambda: core.read_node(
            name, _request_timeout=self.api.timeout_s), allow_404=True) is None
        if not gone:
            self.api.call(f"uncordoning node {name}", lambda: k8s_node.uncordon_node(name=name,
                                                                                     secrets=self.api.secrets))
            self.api.call(f"unlabelling node {name}", lambda: core.patch_node(
                name, {"metadata": {"labels": {CORDON_RUN_LABEL: None, CORDON_TARGET_LABEL: None}}},
                _request_timeout=self.api.timeout_s))
        with self.ledger.update() as state:
            state["cordoned"].pop(name, None)
        return not gone

    def restore_region(self, region: str) -> dict[str, Any]:
        """Uncordon the nodes of zone ``region`` that Aftershock cordoned; the controllers bring pods back."""
        state = self.ledger.read()
        names = sorted(n for n, info in state["cordoned"].items() if info.get("zone") == region)
        restored = [n for n in names if self._uncordon(n)]
        if restored:
            self._emit("region_restored", region=region, uncordoned=restored)
        return {"target": self.name, "action": "restore_region", "region": region, "restored": restored}

    # ---- link faults ---------------------------------------------------------------------------------
    def set_link(self, src: str, dst: str, *, latency_ms: float | None = None, loss: float | None = None,
                 cut: bool | None = None) -> dict[str, Any]:
        """Delay, drop or cut traffic from the targeted pods of zone ``src`` to those of zone ``dst``."""
        self.require("set_link")
        run_id = self._run_id()
        known = {self._zone(n) for n in self._nodes()}
        for zone in (src, dst):
            if zone not in known:
                raise ExperimentError(f"no zone {zone!r} in kube context {self.api.context} "
                                      f"(zones: {', '.join(sorted(known))})")
        changes = {"latency": latency_ms, "loss": loss, "cut": cut}
        wanted = {f: v for f, v in changes.items() if v is not None}
        if any(wanted.values()):  # lifting a fault is always allowed, adding one never under a stop
            check_not_stopped(self.settings.home, f"set_link on target {self.name}")
        dry = self._dry(run_id, "set_link", src=src, dst=dst, **wanted)
        if dry is not None:
            return {**dry, "links": []}
        custom, ns = self.api.custom(), self.target.namespace
        for fault, value in wanted.items():
            key = f"{src}|{dst}|{fault}"
            old = self.ledger.read()["objects"].get(key)
            if old is not None:
                self._delete_object(old["name"])
                with self.ledger.update() as state:
                    state["objects"].pop(key, None)
            if not value:
                continue
            with self.ledger.update() as state:
                state["generation"] = int(state.get("generation", 0)) + 1
                generation = state["generation"]
                body = chaosmesh.network_chaos(self.target, run_id=run_id, src=src, dst=dst, fault=fault,
                                               value=float(value), generation=generation)
                state["objects"][key] = {"name": body["metadata"]["name"], "src": src, "dst": dst, "fault": fault,
                                         "value": float(value), "run_id": run_id}
            self.api.call(f"creating NetworkChaos {body['metadata']['name']}", lambda b=body: (
                custom.create_namespaced_custom_object(chaosmesh.GROUP, chaosmesh.VERSION, ns, chaosmesh.PLURAL, b,
                                                       _request_timeout=self.api.timeout_s)))
        self._emit("link_changed", region=src, dst=dst, run_id=run_id, **wanted)
        links = [li.model_dump() for li in self.status().links if (li.src, li.dst) == (src, dst)]
        return {"target": self.name, "links": links or [{"src": src, "dst": dst, "latency_ms": 0.0, "loss": 0.0,
                                                         "cut": False}], "run_id": run_id}

    def _delete_object(self, name: str) -> bool:
        custom = self.api.custom()
        done = self.api.call(f"deleting NetworkChaos {name}", lambda: custom.delete_namespaced_custom_object(
            chaosmesh.GROUP, chaosmesh.VERSION, self.target.namespace, chaosmesh.PLURAL, name,
            _request_timeout=self.api.timeout_s), allow_404=True)
        return done is not None

    # ---- heal ----------------------------------------------------------------------------------------
    def heal(self, reason: str = "heal") -> dict[str, Any]:
        """Undo everything Aftershock did to this target, in any run: delete its chaos objects, uncordon its
        nodes. Found from the cluster (labels) as well as the ledger, so a lost ledger still heals."""
        state = self.ledger.read()
        removed: list[str] = []
        names = {o["name"] for o in state["objects"].values()}
        if self.chaos_mesh_installed():
            custom = self.api.custom()
            listed = self.api.call("listing Aftershock's NetworkChaos objects", lambda: (
                custom.list_namespaced_custom_object(
                    chaosmesh.GROUP, chaosmesh.VERSION, self.target.namespace, chaosmesh.PLURAL,
                    label_selector=f"{MANAGED_LABEL}={MANAGED_VALUE},{TARGET_LABEL}={self.name}",
                    _request_timeout=self.api.timeout_s)), allow_404=True) or {}
            names |= {item["metadata"]["name"] for item in listed.get("items", [])}
            for name in sorted(names):
                if self._delete_object(name):
                    removed.append(name)
        with self.ledger.update() as st:
            st["objects"] = {}
        cordoned = set(state["cordoned"])
        cordoned |= {n.metadata.name for n in self._nodes(f"{CORDON_TARGET_LABEL}={self.name}")}
        uncordoned = [n for n in sorted(cordoned) if self._uncordon(n)]
        if removed or uncordoned:
            self._emit("healed", reason=reason, removed=removed, uncordoned=uncordoned)
        return {"target": self.name, "action": "heal", "removed": removed, "uncordoned": uncordoned}

    # ---- refused -------------------------------------------------------------------------------------
    def restart_node(self, node: str) -> dict[str, Any]:
        self.require("restart_node")
        raise AssertionError("unreachable")

    def pause_node(self, node: str) -> dict[str, Any]:
        self.require("pause_node")
        raise AssertionError("unreachable")

    def resume_node(self, node: str) -> dict[str, Any]:
        self.require("resume_node")
        raise AssertionError("unreachable")

    def throttle_node(self, node: str, cpu_percent: float) -> dict[str, Any]:
        self.require("throttle_node")
        raise AssertionError("unreachable")

    def unthrottle_node(self, node: str) -> dict[str, Any]:
        self.require("unthrottle_node")
        raise AssertionError("unreachable")


def _merge_links(links: list[LinkStatus]) -> list[LinkStatus]:
    """One status row per directed pair, whatever objects make it up."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for li in links:
        row = merged.setdefault((li.src, li.dst), {"src": li.src, "dst": li.dst, "latency_ms": 0.0, "loss": 0.0,
                                                   "cut": False})
        row["latency_ms"] += li.latency_ms
        row["loss"] = max(row["loss"], li.loss)
        row["cut"] = row["cut"] or li.cut
    return [LinkStatus(**row) for row in merged.values()]
