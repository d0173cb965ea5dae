"""The Ray engine end to end on a local 3-region Ray cluster, inside a loopback-only network namespace.

Recovery is left to Ray here (``healing.restarts: engine``): the library's node-loss and region-loss experiments
run against the deployment as against a lab, and the tests check from outside (the request log, the event log,
the processes, Ray's own records) that the victim died and that Ray, not the lab, brought it back. The last test
kills the supervisor with SIGKILL and checks that no process of the cluster survives it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import yaml

from core.settings import Settings
from core.wait import wait_until
from engines.ray.engine import RayEngine, ray_lab_up
from fleet.lab import lab_down, list_labs
from store import RunStore
from tests.e2e.test_engine_contract import small_topology
from tests.support.labutil import availability, events, requests_between, wait_for_requests_until
from tests.support.netns import loopback_netns, only_loopback_interfaces

pytestmark = [pytest.mark.lab, pytest.mark.timeout(600)]

ROOT = Path(__file__).resolve().parents[2]
CHAOS = Path(sys.executable).parent / "chaos"
AFTERSHOCK = Path(sys.executable).parent / "aftershock"
LOOPBACK_IPS = {"127.0.0.1", "::ffff:127.0.0.1", "::1"}


@pytest.fixture(scope="module")
def ray_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, dict[str, Any], bool]]:
    settings = Settings(home=tmp_path_factory.mktemp("ray-engine")).ensure()
    topo = small_topology().model_copy(update={"name": "ray-restarts"})
    topo = topo.model_copy(update={"healing": topo.healing.model_copy(update={"restarts": "engine"})})
    with loopback_netns() as isolated:
        status = ray_lab_up(settings, topo, name="ray-e2e")
        try:
            yield settings, status, isolated
        finally:
            if any(s["name"] == status["name"] for s in list_labs(settings)):
                lab_down(settings, status["name"])


def cluster_processes(status: dict[str, Any]) -> list[psutil.Process]:
    """Every process of the deployment: the supervisor's tree and whatever names the cluster's directory."""
    temp_dir = status["ray"]["temp_dir"]
    procs = {}
    try:
        sup = psutil.Process(status["pid"])
        procs = {p.pid: p for p in [sup, *sup.children(recursive=True)]}
    except psutil.NoSuchProcess:
        pass
    for p in psutil.process_iter(["cmdline"]):
        try:
            if any(temp_dir in part for part in (p.info["cmdline"] or [])):
                procs[p.pid] = p
        except psutil.Error:
            pass
    return list(procs.values())


def chaos_run(settings: Settings, status: dict[str, Any], experiment: str, tmp_path: Path,
              fault_s: float = 10) -> dict[str, Any]:
    env = {**os.environ, "AFTERSHOCK_HOME": str(settings.home), "AFTERSHOCK_LAB": status["name"],
           "AFTERSHOCK_BASELINE_S": "4", "AFTERSHOCK_FAULT_S": f"{fault_s:g}", "AFTERSHOCK_SEED": "2"}
    journal = tmp_path / "journal.json"
    proc = subprocess.run([str(CHAOS), "--no-version-check", "--log-file", str(tmp_path / "chaos.log"), "run",
                           "--journal-path", str(journal), str(ROOT / "chaos" / "experiments" / f"{experiment}.yaml")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=400)
    assert journal.exists(), proc.stdout + proc.stderr
    return json.loads(journal.read_text())


def test_only_loopback_and_every_listener_on_127_0_0_1(ray_lab) -> None:
    settings, status, isolated = ray_lab
    if isolated:
        assert only_loopback_interfaces()
    procs = cluster_processes(status)
    names = {p.name() for p in procs if p.is_running()}
    assert any("raylet" in n for n in names) and any("gcs_server" in n for n in names), names
    pids = {p.pid for p in procs}
    listeners = [c for c in psutil.net_connections("inet") if c.status == psutil.CONN_LISTEN and c.pid in pids]
    assert len(listeners) > 10  # the GCS, 4 raylets and their agents, the metrics exports, the lab's own servers
    beyond = [(c.laddr, psutil.Process(c.pid).name()) for c in listeners if c.laddr.ip not in LOOPBACK_IPS]
    assert beyond == [], f"listening beyond loopback: {beyond}"
    assert status["ray"]["started_by_aftershock"] and status["ray"]["restarts"] == "engine"
    assert status["ray"]["health_check"]["period_ms"] == 1500  # Ray's default 3 s on the lab's clock


def test_node_loss_is_detected_and_restarted_by_ray(ray_lab, tmp_path: Path) -> None:
    settings, status, _ = ray_lab
    start = time.time()
    journal = chaos_run(settings, status, "node-loss", tmp_path, fault_s=20)
    assert journal["status"] == "completed", journal.get("status")
    log = events(status["event_log"])
    killed = [e for e in log if e["kind"] == "node_killed" and e["ts"] >= start]
    assert len(killed) == 1, killed
    victim = killed[0]["node"]
    detected = [e for e in log if e["kind"] == "member_dead" and e["node"] == victim and e["by"] == "ray"]
    restarted = [e for e in log if e["kind"] == "actor_restarted" and e["node"] == victim]
    assert detected and detected[0]["ts"] >= killed[0]["ts"], "Ray's own record of the death"
    assert restarted and restarted[0]["detail"]["reconstructed"] is True, "Ray restarted the actor, not the lab"
    healed = [e for e in log if e["kind"] == "healed" and e["ts"] >= killed[0]["ts"]]
    assert healed and restarted[0]["ts"] < healed[0]["ts"], "Ray restarted it within the fault window"
    assert not [e for e in log if e["kind"] in ("node_migrated",) and e["ts"] >= start], "the lab did not help"
    now = RayEngine(settings, status["name"]).status().node(victim)
    assert now is not None and now.alive and now.pid == restarted[0]["detail"]["pid"]
    end = time.time()
    wait_for_requests_until(status["request_log"], end)
    rows = requests_between(status["request_log"], end - 5, end)
    assert availability(rows) >= 0.9


def test_region_loss_kills_the_ray_node_and_ray_brings_the_actors_back(ray_lab, tmp_path: Path) -> None:
    settings, status, _ = ray_lab
    start = time.time()
    journal = chaos_run(settings, status, "region-loss-remote", tmp_path)
    assert journal["status"] == "completed", journal.get("status")
    log = [e for e in events(status["event_log"]) if e["ts"] >= start]
    victims = {e["node"] for e in log if e["kind"] == "node_killed" and e.get("by") == "region"}
    assert victims and all(n.startswith("ap-south") for n in victims)
    dead = [e for e in log if e["kind"] == "ray_node_dead" and e["region"] == "ap-south"]
    assert dead, "Ray's GCS declared the region's node dead"
    assert {e["node"] for e in log if e["kind"] == "member_dead" and e["by"] == "ray-gcs"} == victims
    assert any(e["kind"] == "ray_node_added" and e["region"] == "ap-south" for e in log), "restore started it"
    assert {e["node"] for e in log if e["kind"] == "actor_restarted"} == victims
    final = RayEngine(settings, status["name"]).status()
    assert all(n.alive for n in final.nodes)
    ray_nodes = final.to_json()["ray"]["nodes"]
    assert any(n["region"] == "ap-south" and n["alive"] for n in ray_nodes)
    assert any(n["region"] == "ap-south" and not n["alive"] for n in ray_nodes)  # the killed one stays dead


def _one_line_exit_2(args: list[str], home: Path, **env: str) -> str:
    proc = subprocess.run([str(AFTERSHOCK), *args], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "AFTERSHOCK_HOME": str(home), **env})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip() and not line.startswith("starting")]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    return lines[0]


def test_bad_ray_input_is_one_line_and_exit_2(ray_lab, tmp_path: Path) -> None:
    _settings, status, _ = ray_lab
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    line = _one_line_exit_2(["lab", "up", "decentralized", "--engine", "ray", "--ray-address", f"127.0.0.1:{port}"],
                            tmp_path / "home")
    assert "cannot reach a Ray cluster" in line
    topo = small_topology().model_dump()
    topo["regions"] = [{"name": "mars", "nodes": 1}]
    topo["latency_ms"], topo["workload"]["client_split"] = {}, {}
    path = tmp_path / "mars.yaml"
    path.write_text(yaml.safe_dump(topo))
    token = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": status["ray"]["auth_token_file"]}
    line = _one_line_exit_2(["lab", "up", str(path), "--engine", "ray", "--ray-address", status["ray"]["address"]],
                            tmp_path / "home", **token)
    assert "no live node for region(s) mars" in line and "--resources" in line
    assert _one_line_exit_2(["lab", "up", "decentralized", "--ray-address", "127.0.0.1:1"], tmp_path / "home")


def test_a_run_on_ray_lands_in_the_store_with_its_engine(ray_lab, tmp_path: Path) -> None:
    """`aftershock run ... --engine ray` attached to the module's cluster: stored like any run, engine beside it."""
    _settings, status, _ = ray_lab
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(small_topology().model_dump()))
    home = tmp_path / "runs"
    env = {**os.environ, "AFTERSHOCK_HOME": str(home), "AFTERSHOCK_BASELINE_S": "2", "AFTERSHOCK_FAULT_S": "5",
           "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": status["ray"]["auth_token_file"]}
    env.pop("AFTERSHOCK_LAB", None)
    proc = subprocess.run([str(AFTERSHOCK), "run", "node-loss", "-t", str(path), "--engine", "ray", "--ray-address",
                           status["ray"]["address"], "--warmup", "3", "--observe", "3"],
                          capture_output=True, text=True, timeout=500, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    with RunStore.open(Settings(home=home).store_dir, readonly=True) as store:
        runs = store.list_runs()
        assert len(runs) == 1, proc.stdout[-1500:] + proc.stderr[-1500:]
        run = store.get_run(runs.run_id.iloc[0])
    assert run["status"] == "completed" and run["topology"] == "contract"
    engine = run["settings"]["engine"]
    assert engine["name"] == "ray" and engine["address"] == status["ray"]["address"]
    assert engine["started_by_aftershock"] is False and engine["health_check"] is None  # attached: not known
    assert run["meta"]["engine"] == "ray"
    assert [lab for lab in list_labs(Settings(home=home))] == []  # its lab is gone, the cluster is not
    assert RayEngine(_settings, status["name"]).status().ready


def test_kill_9_of_the_supervisor_leaves_no_ray_process(ray_lab) -> None:
    """Last: the deployment dies here. Everything of the local cluster goes with its supervisor."""
    _settings, status, _ = ray_lab
    procs = cluster_processes(status)
    assert len(procs) > 8
    os.kill(status["pid"], signal.SIGKILL)

    def dead(p: psutil.Process) -> bool:
        try:
            return not p.is_running() or p.status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    def gone() -> bool:
        return all(dead(p) for p in procs)

    try:
        wait_until(gone, 60, interval_s=0.2, what="every process of the Ray cluster gone")
    except TimeoutError:
        survivors = [(p.pid, p.name()) for p in procs if not dead(p)]
        raise AssertionError(f"survivors of the supervisor's kill -9: {survivors}") from None
