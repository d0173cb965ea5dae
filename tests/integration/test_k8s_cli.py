"""The command line against a target: ``aftershock target ...``, ``aftershock run EXP --target``,
``aftershock k8s manifests``. The cluster is the recorded fake of tests/support/kube.py (no cluster runs on
these machines); the user's service is a real aiohttp server on a loopback port 0, and Prometheus
unreachability is a real refused loopback connection."""

from __future__ import annotations

import asyncio
import copy
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from chaoslib.experiment import run_experiment
from kubernetes import client

from aftershock.cli import main
from chaos.library import load_experiment
from core.logframes import read_request_log
from core.settings import Settings
from core.wait import wait_until
from engines import load_target, open_target
from engines.kubernetes import cluster
from engines.kubernetes.ledger import Ledger
from engines.kubernetes.loadgen import BackgroundLoad, ServiceLoad
from engines.targets import list_target_names, target_path
from store import RunStore
from tests.support.kube import OPT_IN, FakeCluster, pin_no_cluster

ADD = ["target", "add", "prod", "--kube-context", "ctx", "--namespace", "agents", "--selector", "app=agent"]


@pytest.fixture
def kube(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeCluster:
    pin_no_cluster(monkeypatch, tmp_path / "user")
    return FakeCluster.agents().install(monkeypatch)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(settings: Settings, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv), settings=settings)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def service() -> Iterator[dict[str, Any]]:
    """The user's service: answers every task, names the agent; a real server on a loopback port 0."""
    state: dict[str, Any] = {"requests": 0}
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    async def handler(request: web.Request) -> web.Response:
        state["requests"] += 1
        body = await request.json()
        return web.json_response({"agent": "agent-a1", "region": "zone-a", "turn": int(body["turn"]) + 1})

    async def start() -> web.AppRunner:
        app = web.Application()
        app.router.add_post("/task", handler)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        state["url"] = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
        return runner

    def serve() -> None:
        asyncio.set_event_loop(loop)
        state["runner"] = loop.run_until_complete(start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    try:
        yield state
    finally:
        asyncio.run_coroutine_threadsafe(state["runner"].cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def test_add_checks_the_cluster_and_stores_the_target(settings: Settings, kube: FakeCluster,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(settings, capsys, *ADD, "--hub-selector", "role=hub", "--query", "up_pods=sum(up)")
    assert code == 0, err
    assert "6 agent pod(s), 1 hub pod(s)" in out and "zones zone-a, zone-b, zone-c" in out
    assert "Chaos Mesh missing" in out
    stored = yaml.safe_load(target_path(settings, "prod").read_text())
    assert stored["selector"] == "app=agent" and stored["queries"]["up_pods"] == "sum(up)"
    assert "k8s_pods_ready" in stored["queries"]
    assert kube.writes() == []  # adding a target changes nothing in the cluster
    code, out, _ = _cli(settings, capsys, "target", "list")
    assert code == 0 and "prod" in out and "next run is a dry run" in out


@pytest.mark.parametrize("change,extra,message", [
    (lambda k: k.namespaces.update(agents={}), [], "lacks the opt-in label aftershock.io/chaos=enabled"),
    (lambda k: None, ["--namespace", "nowhere"], "namespace 'nowhere' does not exist"),
    (lambda k: None, ["--selector", "app=nothing"], "--selector 'app=nothing' matches no pod labelled"),
    (lambda k: None, ["--hub-selector", "role=gateway"], "--hub-selector 'role=gateway' matches no pod"),
    (lambda k: None, ["--namespace", "kube-system"], "kube-system is never a chaos target"),
    (lambda k: None, ["--selector", "app in (a"], "cannot read"),
    (lambda k: None, ["--service-url", "ftp://x"], "service_url must be an http(s) URL"),
])
def test_bad_targets_fail_in_one_line_with_exit_2_and_nothing_stored(
        settings: Settings, kube: FakeCluster, capsys: pytest.CaptureFixture[str], change, extra: list[str],
        message: str) -> None:
    change(kube)
    code, out, err = _cli(settings, capsys, *ADD, *extra)
    assert code == 2 and message in err, err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert list_target_names(settings) == [] and kube.writes() == []


def test_selector_matching_only_unlabelled_pods_says_so(settings: Settings, kube: FakeCluster,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    kube.add_pod("web-1", "agents", {"app": "web"}, "zone-a-n1")
    code, _, err = _cli(settings, capsys, *ADD[:-1], "app=web")
    assert code == 2 and "(1 match without the opt-in label)" in err


def test_unreachable_prometheus_fails_the_add(settings: Settings, kube: FakeCluster,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{_free_port()}"
    code, _, err = _cli(settings, capsys, *ADD, "--prometheus-url", url)
    assert code == 2 and f"cannot reach Prometheus at {url}" in err and len(err.strip().splitlines()) == 1
    assert list_target_names(settings) == []


def test_no_kubeconfig_and_unknown_context_fail_in_one_line(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pin_no_cluster(monkeypatch, tmp_path / "user")  # the real client factory, with nothing to find
    code, _, err = _cli(settings, capsys, *ADD)
    assert code == 2 and "no kubeconfig at" in err and len(err.strip().splitlines()) == 1
    config = tmp_path / "kubeconfig"  # names two contexts; nothing is ever contacted
    config.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "dev",
        "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
        "users": [{"name": "u", "user": {"token": "x"}}],
        "contexts": [{"name": n, "context": {"cluster": "c", "user": "u"}} for n in ("dev", "staging")]}))
    with pytest.raises(Exception, match=r"unknown kube context 'prod' \(contexts in .*: dev, staging\)"):
        cluster.api_client_for("prod", config_file=str(config))
    api = cluster.api_client_for("staging", config_file=str(config))
    assert api.configuration.host == "https://127.0.0.1:9"
    assert client.Configuration.get_default_copy().host != "https://127.0.0.1:9"  # the default is untouched


def test_link_experiment_without_chaos_mesh_is_refused_before_anything_starts(
        settings: Settings, kube: FakeCluster, service: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(settings, capsys, *ADD, "--service-url", service["url"])[0] == 0
    code, _, err = _cli(settings, capsys, "run", "partition", "--target", "prod")
    assert code == 2 and "cannot set_link (target prod): Chaos Mesh" in err and "needed by" in err
    assert len(err.strip().splitlines()) == 1
    assert kube.writes() == [] and service["requests"] == 0
    if (settings.store_dir / "runs.sqlite").exists():
        with RunStore.open(settings.store_dir) as store:
            assert store.list_runs().empty


def test_first_run_is_a_dry_run_then_the_real_run_lands_in_the_store(
        settings: Settings, kube: FakeCluster, service: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("AFTERSHOCK_BASELINE_S", "1")
    monkeypatch.setenv("AFTERSHOCK_FAULT_S", "1.5")

    def recreate(pod: client.V1Pod) -> client.V1Pod:  # the Deployment's controller, in zone-b
        return kube.add_pod(f"{pod.metadata.name}-new", "agents", {"app": "agent", **OPT_IN}, "zone-b-n1")

    kube.on_delete = recreate
    assert _cli(settings, capsys, *ADD, "--service-url", service["url"], "--rate", "40")[0] == 0
    run = ["run", "node-loss", "--target", "prod", "--warmup", "1", "--observe", "1"]
    code, out, err = _cli(settings, capsys, *run)
    assert code == 0, err
    assert "first run against target prod is a dry run: nothing was touched" in out
    assert "kill_node -> " in out and kube.writes() == [] and service["requests"] == 0
    assert Ledger(settings, "prod").read()["armed"]

    code, out, err = _cli(settings, capsys, *run, "--json")
    assert code == 0, err
    summary = json.loads(out)
    (outcome,) = summary["runs"]
    assert outcome["topology"] == "prod" and outcome["status"] in ("completed", "failed")
    deletes = kube.called("core.delete_namespaced_pod")
    assert len(deletes) == 1 and deletes[0][0][0].startswith("agent-")
    assert service["requests"] >= 40
    with RunStore.open(settings.store_dir) as store:
        stored = store.get_run(outcome["run_id"])
        assert stored["request_log"] and stored["injected_at"] is not None
        log = read_request_log(Path(stored["request_log"]))
        assert len(log) >= 40 and (log["outcome"] == "ok").mean() > 0.9
        events = store.load_events(outcome["run_id"])
    assert list(events["kind"]).count("node_killed") == 1
    state = Ledger(settings, "prod").read()
    assert state["run"] is None and state["objects"] == {} and state["cordoned"] == {}


def test_remove_is_refused_while_cordons_are_in_place(settings: Settings, kube: FakeCluster,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli(settings, capsys, *ADD)[0] == 0
    engine = open_target(settings, "prod")
    engine.arm()
    engine.begin_run("r-1")
    engine.kill_region("zone-c")
    code, _, err = _cli(settings, capsys, "target", "remove", "prod")
    assert code == 2 and "aftershock target heal prod" in err and list_target_names(settings) == ["prod"]
    code, out, _ = _cli(settings, capsys, "target", "heal", "prod")
    assert code == 0 and "uncordoned 2 node(s)" in out and not kube.nodes["zone-c-n1"].spec.unschedulable
    assert _cli(settings, capsys, "target", "remove", "prod")[0] == 0 and list_target_names(settings) == []


def test_manifests_to_a_directory_and_bad_zone_option(settings: Settings, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(settings, capsys, "k8s", "manifests", "decentralized", "-o", str(tmp_path / "out"),
                        "--zone", "us-east=us-east-1a", "--image", "registry.local/a:1")
    assert code == 0, err
    docs = list(yaml.safe_load_all((tmp_path / "out" / "decentralized.yaml").read_text()))
    assert [d["kind"] for d in docs].count("Deployment") == 3
    code, _, err = _cli(settings, capsys, "k8s", "manifests", "decentralized", "--zone", "mars=z")
    assert code == 2 and "unknown region 'mars'" in err


def test_a_plain_chaos_run_against_the_target_breaks_heals_and_records(
        settings: Settings, kube: FakeCluster, service: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    """`chaos run --var aftershock_target=prod` as chaoslib runs it (in-process here, for the fake cluster),
    with `aftershock k8s load --target prod` feeding the probes."""
    assert _cli(settings, capsys, *ADD, "--service-url", service["url"])[0] == 0
    open_target(settings, "prod").arm()
    target = load_target(settings, "prod")
    request_log = settings.home / "requests.csv"
    with Ledger(settings, "prod").update() as state:  # what `aftershock k8s load --target prod` registers
        state["request_log"] = str(request_log)
    load = BackgroundLoad(ServiceLoad(service["url"], target.request, target.load, request_log)).start()
    try:
        wait_until(lambda: request_log.exists() and len(read_request_log(request_log)) >= 10, 20,
                   what="the load generator's first requests")
        data = copy.deepcopy(load_experiment("node-loss").data)
        data["configuration"] = {**data["configuration"], "aftershock_home": str(settings.home),
                                 "aftershock_target": "prod", "aftershock_baseline_s": 1.0,
                                 "aftershock_fault_s": 0.5, "aftershock_seed": 1, "aftershock_lab": ""}
        journal = run_experiment(data, settings={"runtime": {"rollbacks": {"strategy": "always"}}})
    finally:
        load.stop()
    assert journal["status"] == "completed", journal.get("run")
    assert len(kube.called("core.delete_namespaced_pod")) == 1
    with RunStore.open(settings.store_dir) as store:
        runs = store.list_runs()
        assert len(runs) == 1 and runs.iloc[0]["topology"] == "prod" and runs.iloc[0]["status"] == "completed"
        run_id = runs.iloc[0]["run_id"]
        assert store.get_run(run_id)["injected_at"] is not None
        assert store.get_run(run_id)["request_log"]  # the control attached the slice of the load's log
    assert Ledger(settings, "prod").read()["objects"] == {}
