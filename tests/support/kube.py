"""A recorded, in-memory stand-in for a Kubernetes API server: no cluster runs on these machines.

Why a fake here, and only here: the project's rule is real components, but a cluster cannot run on these
machines. The fake replaces the ``kubernetes.client`` API classes (``CoreV1Api``, ``CustomObjectsApi``,
``ApiextensionsV1Api``) at the seam chaostoolkit-kubernetes' own tests patch, so Aftershock's calls and
chaostoolkit-kubernetes' calls land in one ordered log (:attr:`FakeCluster.calls`). Each API method is a
``create_autospec`` of the real method, so a call whose positional arguments do not fit the real method
fails; answers are the client's real model objects (``V1Pod``, ``V1NodeList``, ...), so attribute access
matches what a real server's answers give.

:func:`pin_no_cluster` pins the environment (no ``KUBECONFIG``, no ``~/.kube/config``, no
``KUBERNETES_HOST``, no ``CHAOSTOOLKIT_IN_POD``), so nothing can fall back to a real cluster's credentials.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest.mock import create_autospec

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from engines.kubernetes import cluster as cluster_mod
from engines.kubernetes.labels import OPT_IN_LABEL, OPT_IN_VALUE, matches, parse_selector

__all__ = ["FakeCluster", "pin_no_cluster", "KUBE_ENV", "ZONE", "fake_api_client"]

ZONE = "topology.kubernetes.io/zone"
KUBE_ENV = ("KUBECONFIG", "KUBERNETES_HOST", "KUBERNETES_CONTEXT", "KUBERNETES_API_KEY", "KUBERNETES_CERT_FILE",
            "KUBERNETES_USERNAME", "KUBERNETES_PASSWORD", "CHAOSTOOLKIT_IN_POD", "KUBERNETES_SERVICE_HOST")
OPT_IN = {OPT_IN_LABEL: OPT_IN_VALUE}


def pin_no_cluster(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """No variable or file that could name a real cluster: the kubeconfig lookups find nothing."""
    for key in KUBE_ENV:
        monkeypatch.delenv(key, raising=False)
    home.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    assert not (home / ".kube" / "config").exists()


def fake_api_client() -> client.ApiClient:
    """An API client pointed at a loopback port nothing listens on (never used: the API classes are fakes)."""
    return client.ApiClient(client.Configuration(host="http://127.0.0.1:9"))


def _meta(name: str, **kw: Any) -> client.V1ObjectMeta:
    return client.V1ObjectMeta(name=name, **kw)


def _not_found(what: str) -> ApiException:
    exc = ApiException(status=404, reason="Not Found")
    exc.body = f'{{"message": "{what} not found"}}'
    return exc


class FakeCluster:
    """Namespaces, nodes, pods, CRDs and custom objects, and the ordered log of every API call."""

    def __init__(self) -> None:
        self.namespaces: dict[str, dict[str, str]] = {}
        self.nodes: dict[str, client.V1Node] = {}
        self.pods: dict[tuple[str, str], client.V1Pod] = {}
        self.crds: set[str] = set()
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.fail: dict[str, BaseException] = {}
        #: Called with a deleted pod: a controller that recreates it (returns the new pod or None).
        self.on_delete: Callable[[client.V1Pod], client.V1Pod | None] | None = None
        self._ips = itertools.count(10)

    # ---- building the cluster ---------------------------------------------------------------------
    def add_namespace(self, name: str, labels: dict[str, str] | None = None) -> None:
        self.namespaces[name] = dict(labels or {})

    def add_node(self, name: str, zone: str | None, *, unschedulable: bool = False,
                 labels: dict[str, str] | None = None) -> None:
        all_labels = {**({ZONE: zone} if zone else {}), **(labels or {})}
        self.nodes[name] = client.V1Node(metadata=_meta(name, labels=all_labels),
                                         spec=client.V1NodeSpec(unschedulable=unschedulable or None))

    def add_pod(self, name: str, namespace: str, labels: dict[str, str], node: str | None, *,
                ready: bool = True, annotations: dict[str, str] | None = None) -> client.V1Pod:
        pod = client.V1Pod(
            metadata=_meta(name, namespace=namespace, labels=dict(labels), annotations=annotations),
            spec=client.V1PodSpec(node_name=node, containers=[client.V1Container(name="agent")]),
            status=client.V1PodStatus(phase="Running" if node else "Pending", pod_ip=f"10.0.0.{next(self._ips)}",
                                      conditions=[client.V1PodCondition(type="Ready",
                                                                        status="True" if ready else "False")]))
        self.pods[(namespace, name)] = pod
        return pod

    def install_chaos_mesh(self) -> None:
        self.crds.add("networkchaos.chaos-mesh.org")

    @classmethod
    def agents(cls, namespace: str = "agents") -> FakeCluster:
        """Three zones, two nodes each, two opted-in agent pods per zone, a hub, and pods that must never be
        hit: one without the opt-in label, one in kube-system, one in an unlabelled namespace."""
        c = cls()
        c.add_namespace(namespace, OPT_IN)
        c.add_namespace("kube-system", OPT_IN)
        c.add_namespace("other", {})
        for zone in ("zone-a", "zone-b", "zone-c"):
            for i in (1, 2):
                c.add_node(f"{zone}-n{i}", zone)
                c.add_pod(f"agent-{zone[-1]}{i}", namespace, {"app": "agent", **OPT_IN}, f"{zone}-n{i}")
        c.add_pod("hub-0", namespace, {"app": "agent", "role": "hub", **OPT_IN}, "zone-a-n1")
        c.add_pod("agent-unlabelled", namespace, {"app": "agent"}, "zone-a-n2")
        c.add_pod("coredns-1", "kube-system", {"app": "agent", **OPT_IN}, "zone-a-n1")
        c.add_pod("agent-other", "other", {"app": "agent", **OPT_IN}, "zone-b-n1")
        return c

    # ---- installing the fakes -----------------------------------------------------------------------
    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeCluster:
        """Replace the API classes of ``kubernetes.client`` (ours and chaostoolkit-kubernetes' calls) and the
        context's client factory; nothing else of the libraries is touched."""
        apis = {"CoreV1Api": self._core(), "CustomObjectsApi": self._custom(),
                "ApiextensionsV1Api": self._apiext()}
        for name, api in apis.items():
            monkeypatch.setattr(client, name, lambda *a, _api=api, **k: _api)
        monkeypatch.setattr(cluster_mod, "api_client_for", lambda context, config_file=None: fake_api_client())
        return self

    def _wire(self, cls: type, group: str, impls: dict[str, Callable[..., Any]]) -> Any:
        """An object with only the wired methods, each a ``create_autospec`` of the real method (a call that
        does not fit the real signature fails; a method nobody wired is an AttributeError)."""
        api = types.SimpleNamespace()
        for method, impl in impls.items():
            def side_effect(*args: Any, _m: str = method, _impl: Callable[..., Any] = impl, **kwargs: Any) -> Any:
                self.calls.append((f"{group}.{_m}", args, kwargs))
                if _m in self.fail:
                    raise self.fail[_m]
                return _impl(*args, **kwargs)
            spec = create_autospec(getattr(cls, method))
            spec.side_effect = lambda *a, _se=side_effect, **k: _se(*a[1:], **k)  # drop ``self``
            setattr(api, method, functools.partial(spec, api))
        return api

    def _core(self) -> Any:
        return self._wire(client.CoreV1Api, "core", {
            "read_namespace": self.read_namespace, "list_namespaced_pod": self.list_namespaced_pod,
            "delete_namespaced_pod": self.delete_namespaced_pod, "list_node": self.list_node,
            "read_node": self.read_node, "patch_node": self.patch_node})

    def _custom(self) -> Any:
        return self._wire(client.CustomObjectsApi, "custom", {
            "create_namespaced_custom_object": self.create_object,
            "delete_namespaced_custom_object": self.delete_object,
            "list_namespaced_custom_object": self.list_objects})

    def _apiext(self) -> Any:
        return self._wire(client.ApiextensionsV1Api, "apiext", {
            "read_custom_resource_definition": self.read_crd})

    # ---- the API ------------------------------------------------------------------------------------
    def read_namespace(self, name: str, **_: Any) -> client.V1Namespace:
        if name not in self.namespaces:
            raise _not_found(f"namespace {name}")
        return client.V1Namespace(metadata=_meta(name, labels=dict(self.namespaces[name])))

    def list_namespaced_pod(self, namespace: str, label_selector: str | None = None, **_: Any) -> client.V1PodList:
        reqs = parse_selector(label_selector) if label_selector else ()
        items = [p for (ns, _n), p in sorted(self.pods.items()) if ns == namespace
                 and matches(reqs, p.metadata.labels)]
        return client.V1PodList(items=items)

    def delete_namespaced_pod(self, name: str, namespace: str, body: Any = None, **_: Any) -> client.V1Pod:
        pod = self.pods.pop((namespace, name), None)
        if pod is None:
            raise _not_found(f"pod {name}")
        if self.on_delete is not None:
            new = self.on_delete(pod)
            if new is not None:
                self.pods[(namespace, new.metadata.name)] = new
        return pod

    def list_node(self, label_selector: str | None = None, field_selector: str | None = None,
                  **_: Any) -> client.V1NodeList:
        reqs = parse_selector(label_selector) if label_selector else ()
        items = [n for _, n in sorted(self.nodes.items()) if matches(reqs, n.metadata.labels)]
        if field_selector:
            key, _, value = field_selector.partition("=")
            assert key == "metadata.name", field_selector
            items = [n for n in items if n.metadata.name == value]
        return client.V1NodeList(items=items)

    def read_node(self, name: str, **_: Any) -> client.V1Node:
        if name not in self.nodes:
            raise _not_found(f"node {name}")
        return self.nodes[name]

    def patch_node(self, name: str, body: dict[str, Any], **_: Any) -> client.V1Node:
        node = self.read_node(name)
        if "unschedulable" in body.get("spec", {}):
            node.spec.unschedulable = bool(body["spec"]["unschedulable"]) or None
        labels = dict(node.metadata.labels or {})
        for key, value in (body.get("metadata", {}).get("labels") or {}).items():
            if value is None:
                labels.pop(key, None)
            else:
                labels[key] = value
        node.metadata.labels = labels
        return node

    def read_crd(self, name: str, **_: Any) -> dict[str, Any]:
        if name not in self.crds:
            raise _not_found(f"customresourcedefinition {name}")
        return {"metadata": {"name": name}}

    def _check_crd(self, group: str, plural: str) -> None:
        if f"{plural}.{group}" not in self.crds:
            raise _not_found(f"the server could not find the requested resource {plural}.{group}")

    def create_object(self, group: str, version: str, namespace: str, plural: str, body: dict[str, Any],
                      **_: Any) -> dict[str, Any]:
        self._check_crd(group, plural)
        key = (namespace, plural, body["metadata"]["name"])
        if key in self.objects:
            raise ApiException(status=409, reason="Conflict")
        stored = {**body, "metadata": {**body["metadata"],
                                       "creationTimestamp": dt.datetime.now(dt.UTC).isoformat()}}
        self.objects[key] = stored
        return stored

    def delete_object(self, group: str, version: str, namespace: str, plural: str, name: str,
                      **_: Any) -> dict[str, Any]:
        self._check_crd(group, plural)
        if (namespace, plural, name) not in self.objects:
            raise _not_found(f"{plural} {name}")
        return self.objects.pop((namespace, plural, name))

    def list_objects(self, group: str, version: str, namespace: str, plural: str, label_selector: str | None = None,
                     **_: Any) -> dict[str, Any]:
        self._check_crd(group, plural)
        reqs = parse_selector(label_selector) if label_selector else ()
        return {"items": [o for (ns, pl, _n), o in sorted(self.objects.items())
                          if ns == namespace and pl == plural and matches(reqs, o["metadata"].get("labels"))]}

    # ---- reading the log ----------------------------------------------------------------------------
    def writes(self) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
        """Every call that changes the cluster (delete, patch, create), in order, without timeouts."""
        verbs = ("delete_", "patch_", "create_")
        return [(m, a, {k: v for k, v in kw.items() if k != "_request_timeout"}) for m, a, kw in self.calls
                if m.split(".", 1)[1].startswith(verbs)]

    def called(self, method: str) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
        return [(a, {k: v for k, v in kw.items() if k != "_request_timeout"}) for m, a, kw in self.calls
                if m == method]
