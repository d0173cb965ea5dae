"""A local multi-node Ray cluster on loopback, started and stopped by Aftershock; checks of a cluster to attach to.

One head node (the GCS, no region, no CPUs, so no agent lands on it) and one Ray node per region, each a raylet
of its own started by ``ray start --block`` with a custom resource naming its region (``region:us-east``), every
process told ``--node-ip-address 127.0.0.1``, the dashboard off. Why ``--block``: that ``ray start`` stays the
parent of its node's processes, and its keeper above it collects whatever a dying node orphans.

Why not ``ray stop``: it stops every Ray process of the machine, an attached cluster's included. We stop exactly
the processes we started (each ``ray start``'s process tree), then any process whose command line names this
cluster's own temporary directory. Each ``ray start`` runs under a keeper (:mod:`engines.ray.keeper`) that kills
every process below it when the supervisor is gone, even by ``kill -9``.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterable
from contextlib import closing, suppress
from pathlib import Path

import psutil

from core.errors import EngineError
from engines.ray.options import MIN_RAY_VERSION, RayHealth, region_resource

__all__ = ["LocalCluster", "ray_version", "check_ray_version", "check_address", "free_port", "ray_command",
           "START_TIMEOUT_S", "LOOPBACK"]

log = logging.getLogger("aftershock.engines.ray")

START_TIMEOUT_S = 240.0  # a `ray start` on a loaded 2-core machine takes 15-20 s; give it room
STOP_GRACE_S = 5.0
START_ATTEMPTS = 3
STARTED_MARK = "Ray runtime started"
LOOPBACK = "127.0.0.1"


def ray_version() -> str:
    try:
        return importlib.metadata.version("ray")
    except importlib.metadata.PackageNotFoundError:
        raise EngineError("Ray is not installed; install it with `pip install 'ray[default]>=2.60'` "
                          "(requirements.txt)") from None


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for part in version.split(".")[:3]:
        digits = "".join(ch for ch in part if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


def check_ray_version(version: str | None = None) -> str:
    """The installed Ray (or ``version``), refused in one line when older than :data:`MIN_RAY_VERSION`."""
    found = version or ray_version()
    if _version_tuple(found) < MIN_RAY_VERSION:
        need = ".".join(map(str, MIN_RAY_VERSION))
        raise EngineError(f"Ray {found} is older than {need}, the oldest the Ray engine is tested with; "
                          f"upgrade with `pip install 'ray[default]>={need}'`")
    return found


def ray_command() -> str:
    """The ``ray`` command of this Python (beside its interpreter), else the one on PATH."""
    beside = Path(sys.executable).with_name("ray")
    found = str(beside) if beside.exists() else shutil.which("ray")
    if not found:
        raise EngineError("the `ray` command is not installed; install it with `pip install 'ray[default]>=2.60'`")
    return found


def check_address(address: str, timeout_s: float = 3.0) -> tuple[str, int]:
    """``HOST:PORT`` of a Ray cluster's GCS, reachable: else one line saying what to do."""
    host, sep, port_s = address.strip().rpartition(":")
    if address.startswith("ray://"):
        raise EngineError(f"--ray-address {address}: give the cluster's GCS address HOST:PORT (as printed by "
                          "`ray start --head`), not a Ray Client ray:// URL")
    if not sep or not host or not port_s.isdigit() or not 0 < int(port_s) < 65536:
        raise EngineError(f"--ray-address {address!r} is not HOST:PORT, e.g. 127.0.0.1:6379 (the address "
                          "`ray start --head` prints)")
    try:
        with closing(socket.create_connection((host, int(port_s)), timeout=timeout_s)):
            pass
    except OSError as exc:
        raise EngineError(f"cannot reach a Ray cluster at {address} ({exc.strerror or type(exc).__name__}); "
                          "start one with `ray start --head --node-ip-address 127.0.0.1` or fix --ray-address"
                          ) from None
    return host, int(port_s)


def free_port() -> int:
    """A free port on loopback (Ray's command line wants numbers, not port 0)."""
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def _tree(pid: int) -> list[psutil.Process]:
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _kill_all(procs: Iterable[psutil.Process], sig: int = signal.SIGKILL) -> None:
    for proc in procs:
        with suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            proc.send_signal(sig)


class LocalCluster:
    """A head node and one Ray node per region on this machine, all on 127.0.0.1."""

    def __init__(self, regions: list[str], health: RayHealth, *, log_dir: Path, num_cpus: float = 1.0,
                 object_store_mb: int = 128):
        self.regions = list(regions)
        self.health = health
        self.num_cpus = num_cpus
        self.object_store_mb = object_store_mb
        self.log_dir = log_dir
        # Short on purpose: Ray puts Unix sockets under it, and a socket path must fit in 107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="asray-", dir="/tmp"))
        self.port = free_port()
        self.address = f"{LOOPBACK}:{self.port}"
        self.procs: dict[str, asyncio.subprocess.Process] = {}
        self.starts: dict[str, int] = {}
        # Ray's token authentication with the cluster's own token (engines.ray.engine.cluster_token_env put it in
        # this process's environment, which every `ray start` inherits).
        self.token_path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH", ""))

    # ---- one `ray start --block` ------------------------------------------------------------------
    def _common(self) -> list[str]:
        return ["--node-ip-address", LOOPBACK, "--temp-dir", str(self.root), "--disable-usage-stats",
                "--object-store-memory", str(self.object_store_mb * 1024 * 1024), "--include-log-monitor", "false",
                "--metrics-export-port", str(free_port()), "--dashboard-agent-listen-port", str(free_port()),
                "--log-style", "record", "--log-color", "false"]

    def _head_args(self) -> list[str]:
        return ["--head", "--port", str(self.port), "--num-cpus", "0", "--include-dashboard", "false",
                "--ray-client-server-port", str(free_port()),
                "--system-config", json.dumps(self.health.system_config()), *self._common()]

    def _region_args(self, region: str) -> list[str]:
        return ["--address", self.address, "--num-cpus", f"{self.num_cpus:g}",
                "--resources", json.dumps({region_resource(region): 1000}), *self._common()]

    async def _spawn(self, key: str, args: list[str]) -> None:
        self.starts[key] = self.starts.get(key, 0) + 1
        log_path = self.log_dir / f"ray-{key}.log"
        offset = log_path.stat().st_size if log_path.exists() else 0
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        with open(log_path, "ab") as fh:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "engines.ray.keeper", *(["--remove", str(self.root)] if key == "head" else []),
                ray_command(), "start", *args, "--block",
                stdin=asyncio.subprocess.DEVNULL, stdout=fh, stderr=asyncio.subprocess.STDOUT, env=env,
                start_new_session=True)
        self.procs[key] = proc
        deadline = asyncio.get_running_loop().time() + START_TIMEOUT_S
        while True:
            text = log_path.read_text(errors="replace")[offset:]
            if STARTED_MARK in text:
                return
            if proc.returncode is not None:
                tail = " | ".join(text.strip().splitlines()[-3:])
                raise EngineError(f"`ray start` for the {key} node of the local Ray cluster failed: {tail} "
                                  f"(log: {log_path})")
            if asyncio.get_running_loop().time() > deadline:
                raise EngineError(f"`ray start` for the {key} node did not start within {START_TIMEOUT_S:.0f}s "
                                  f"(log: {log_path})")
            await asyncio.sleep(0.2)

    # ---- the cluster ------------------------------------------------------------------------------
    async def _spawn_retrying(self, key: str, args: list[str]) -> None:
        """``ray start`` gives a raylet a fixed 30 s to register; on a loaded machine it can miss that. Again,
        up to :data:`START_ATTEMPTS` times."""
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                await self._spawn(key, args)
                return
            except EngineError as exc:
                if attempt == START_ATTEMPTS or "timed out during startup" not in str(exc):
                    raise
                log.warning("the %s node of the local Ray cluster missed Ray's startup timeout; again", key)

    async def start(self) -> None:
        """Head first (it holds the GCS), then the regions' nodes one after another (at once, they compete for
        the CPU with each other and miss Ray's fixed startup timeout on a 2-core machine)."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        await self._spawn_retrying("head", self._head_args())
        for region in self.regions:
            await self._spawn_retrying(region, self._region_args(region))

    def region_alive(self, region: str) -> bool:
        proc = self.procs.get(region)
        return proc is not None and proc.returncode is None

    async def kill_region(self, region: str) -> list[int]:
        """SIGKILL the region's Ray node: its ``ray start``, raylet, workers (our actors) and agents, at once
        (its keeper does it, and collects the orphans a dying raylet leaves)."""
        proc = self.procs.get(region)
        if proc is None or proc.returncode is not None:
            return []
        tree = _tree(proc.pid)[1:]
        _kill_all(tree)  # the node's processes first, in one sweep: nobody notices the others going
        with suppress(ProcessLookupError):
            proc.send_signal(signal.SIGUSR1)  # then the keeper: whatever was orphaned meanwhile
        await proc.wait()
        return [p.pid for p in tree]

    async def start_region(self, region: str) -> None:
        """Start the region's Ray node again (a new raylet: Ray sees a new node with the region's resource)."""
        if self.region_alive(region):
            return
        await self._spawn_retrying(region, self._region_args(region))

    def processes(self) -> list[psutil.Process]:
        """Every live process of this cluster: the trees of our ``ray start``s and anything naming our directory."""
        seen: dict[int, psutil.Process] = {}
        for proc in self.procs.values():
            if proc.returncode is None:
                seen.update({p.pid: p for p in _tree(proc.pid)})
        for p in psutil.process_iter(["cmdline"]):
            with suppress(psutil.Error):
                if any(str(self.root) in part for part in (p.info["cmdline"] or [])):
                    seen[p.pid] = p
        return list(seen.values())

    async def stop(self) -> None:
        """Regions first (their actors are stopped already: at once), then the head: its keeper asks ``ray start``
        to stop for a grace period, then kills what is left; a keeper that does not answer is killed last."""
        for region in self.regions:
            await self.kill_region(region)
        head = self.procs.get("head")
        if head is not None and head.returncode is None:
            for sig, wait_s in ((signal.SIGTERM, STOP_GRACE_S + 3), (signal.SIGUSR1, 5.0), (signal.SIGKILL, 5.0)):
                with suppress(ProcessLookupError):
                    head.send_signal(sig)
                try:
                    await asyncio.wait_for(head.wait(), wait_s)
                    break
                except TimeoutError:
                    log.warning("the local Ray cluster's head did not stop in %.0fs after signal %d", wait_s, sig)
        leftovers = self.processes()
        _kill_all(leftovers)
        psutil.wait_procs(leftovers, timeout=5)
        shutil.rmtree(self.root, ignore_errors=True)
