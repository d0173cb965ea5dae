"""Against a real cluster, only when ``AFTERSHOCK_KUBE_CONTEXT`` names a kubeconfig context (skipped
otherwise; no cluster runs on the project's machines, so CI skips it).

Environment: ``AFTERSHOCK_KUBE_CONTEXT`` (required), ``AFTERSHOCK_KUBE_NAMESPACE`` (default
``aftershock-decentralized``, as ``aftershock k8s manifests decentralized`` names it),
``AFTERSHOCK_KUBE_SELECTOR`` (default ``app.kubernetes.io/part-of=aftershock,aftershock.io/role=agent``),
``AFTERSHOCK_KUBE_SERVICE_URL`` (optional). Faults (one pod deleted, a zone cordoned and uncordoned) run only
with ``AFTERSHOCK_KUBE_ALLOW_FAULTS=1``: the namespace and the pods must carry ``aftershock.io/chaos: enabled``.
"""

from __future__ import annotations

import os

import pytest

from aftershock.cli import main
from core.settings import Settings
from core.wait import wait_until
from engines import open_target
from engines.kubernetes.labels import CORDON_TARGET_LABEL

CONTEXT = os.environ.get("AFTERSHOCK_KUBE_CONTEXT", "")
pytestmark = pytest.mark.skipif(not CONTEXT, reason="AFTERSHOCK_KUBE_CONTEXT is not set: no cluster to test")


def test_attach_dry_run_and_optionally_break_a_real_deployment(settings: Settings,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    namespace = os.environ.get("AFTERSHOCK_KUBE_NAMESPACE", "aftershock-decentralized")
    selector = os.environ.get("AFTERSHOCK_KUBE_SELECTOR",
                              "app.kubernetes.io/part-of=aftershock,aftershock.io/role=agent")
    argv = ["target", "add", "live", "--kube-context", CONTEXT, "--namespace", namespace, "--selector", selector]
    if os.environ.get("AFTERSHOCK_KUBE_SERVICE_URL"):
        argv += ["--service-url", os.environ["AFTERSHOCK_KUBE_SERVICE_URL"]]
    assert main(argv, settings=settings) == 0, capsys.readouterr().err
    engine = open_target(settings, "live")
    before = engine.status()
    assert before.nodes and before.regions
    assert main(["run", "node-loss", "--target", "live", "--dry-run"], settings=settings) == 0
    assert "nothing was touched" in capsys.readouterr().out
    assert {n.name for n in engine.status().nodes} == {n.name for n in before.nodes}
    if os.environ.get("AFTERSHOCK_KUBE_ALLOW_FAULTS") != "1":
        return
    engine.begin_run("r-live-e2e")
    try:
        victim = sorted(n.name for n in before.nodes if n.alive)[0]
        assert engine.kill_node(victim)["killed"] == [victim]
        wait_until(lambda: victim not in {n.name for n in engine.status().nodes}, 120, what="the pod to go")
        zone = before.regions[0]
        engine.kill_region(zone)
        assert engine.restore_region(zone)["restored"]
    finally:
        engine.end_run()
    core = engine.api.core()
    assert not core.list_node(label_selector=f"{CORDON_TARGET_LABEL}=live").items
