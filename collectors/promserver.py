"""Start a real Prometheus for a lab: generated config, file-based service discovery, loopback only.

The server reads scrape targets from ``data_dir/sd/*.json`` (one file per lab, replaced atomically), so
targets change while it runs without a reload. It never outlives the process that started it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import requests

from collectors.base import LOGGER, Target
from collectors.prometheus import PrometheusSource
from core.errors import CollectorError

__all__ = ["PrometheusServer", "free_port", "DEFAULT_JOB", "READY_TIMEOUT_S"]

DEFAULT_JOB = "aftershock"
READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 10.0
PORT_ATTEMPTS = 3
_PR_SET_PDEATHSIG = 1
_LAB_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (bind to 0, read, close); callers retry if it gets taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _die_with_parent(parent_pid: int) -> Callable[[], None]:
    """preexec hook: SIGKILL the child when the parent (thread) dies; bail out if it already has."""
    def hook() -> None:
        try:
            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        except OSError:
            pass
        if os.getppid() != parent_pid:
            os._exit(1)

    return hook


class PrometheusServer:
    """A Prometheus process scraping the targets written with :meth:`write_targets`.

    Note: PR_SET_PDEATHSIG fires when the *thread* that started the server exits, so start it from a
    long-lived thread (the main thread, or the lab supervisor's), not from a short-lived worker.
    """

    def __init__(
        self,
        data_dir: Path,
        *,
        binary: str | None = None,
        scrape_interval_s: float = 1.0,
        scrape_timeout_s: float | None = None,
        port: int = 0,
        host: str = "127.0.0.1",
        job: str = DEFAULT_JOB,
        retention: str = "15d",
        ready_timeout_s: float = READY_TIMEOUT_S,
        extra_args: Iterable[str] = (),
    ) -> None:
        self.data_dir = Path(data_dir)
        self.binary = binary or "prometheus"
        self.scrape_interval_s = scrape_interval_s
        self.scrape_timeout_s = min(scrape_interval_s, 1.0) if scrape_timeout_s is None else scrape_timeout_s
        self.requested_port = port
        self.host = host
        self.job = job
        self.retention = retention
        self.ready_timeout_s = ready_timeout_s
        self.extra_args = list(extra_args)
        self.port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise CollectorError("Prometheus server is not running; call start() first")
        return f"http://{self.host}:{self.port}"

    @property
    def sd_dir(self) -> Path:
        return self.data_dir / "sd"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "prometheus.log"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def source(self, **kwargs: object) -> PrometheusSource:
        """A :class:`PrometheusSource` pointed at this server."""
        return PrometheusSource(self.url, **kwargs)  # type: ignore[arg-type]

    # -- config ---------------------------------------------------------------------------------------

    def _write_config(self) -> Path:
        for sub in ("sd", "data", "consoles", "console_libraries"):
            (self.data_dir / sub).mkdir(parents=True, exist_ok=True)
        config = {
            "global": {"scrape_interval": f"{self.scrape_interval_s:g}s",
                       "scrape_timeout": f"{self.scrape_timeout_s:g}s",
                       "evaluation_interval": f"{max(self.scrape_interval_s, 1.0):g}s"},
            "scrape_configs": [{
                "job_name": self.job,
                "honor_labels": False,
                "file_sd_configs": [{"files": [str(self.sd_dir / "*.json")], "refresh_interval": "5s"}],
            }],
        }
        path = self.data_dir / "prometheus.yml"
        path.write_text(json.dumps(config, indent=2))  # JSON is valid YAML
        return path

    def write_targets(self, lab_name: str, targets: Iterable[Target]) -> Path:
        """Atomically replace the lab's file-SD JSON; every target gets ``aftershock_lab=<lab_name>``."""
        if not _LAB_RE.match(lab_name):
            raise CollectorError(f"invalid lab name {lab_name!r} for a target file: use letters, digits, _ . -")
        groups = []
        for target in targets:
            labels = {k: v for k, v in target.labels.items() if v != ""}
            labels["aftershock_lab"] = lab_name
            if target.path != "/metrics":
                labels["__metrics_path__"] = target.path
            if target.url.startswith("https:"):
                labels["__scheme__"] = "https"
            groups.append({"targets": [target.address], "labels": labels})
        self.sd_dir.mkdir(parents=True, exist_ok=True)
        path = self.sd_dir / f"{lab_name}.json"
        fd, tmp = tempfile.mkstemp(dir=self.sd_dir, prefix=f".{lab_name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as fh:
                json.dump(groups, fh, indent=1)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        return path

    def remove_targets(self, lab_name: str) -> None:
        """Stop scraping a lab (its series stay in the TSDB)."""
        with contextlib.suppress(FileNotFoundError):
            (self.sd_dir / f"{lab_name}.json").unlink()

    # -- lifecycle ------------------------------------------------------------------------------------

    def _command(self, exe: str, config: Path, port: int) -> list[str]:
        return [
            exe,
            f"--config.file={config}",
            f"--storage.tsdb.path={self.data_dir / 'data'}",
            f"--storage.tsdb.retention.time={self.retention}",
            f"--web.listen-address={self.host}:{port}",
            f"--web.console.templates={self.data_dir / 'consoles'}",
            f"--web.console.libraries={self.data_dir / 'console_libraries'}",
            "--log.level=warn",
            *self.extra_args,
        ]

    def start(self) -> PrometheusServer:
        """Start the server and wait for ``/-/ready``; retries with a new port if the port got taken."""
        if self.proc is not None:
            raise RuntimeError("Prometheus server already started")
        exe = shutil.which(self.binary)
        if exe is None:
            raise CollectorError(
                f"{self.binary} not found on PATH; install it with `apt-get install prometheus` "
                "or pass --prometheus-url URL"
            )
        config = self._write_config()
        attempts = 1 if self.requested_port else PORT_ATTEMPTS
        for attempt in range(attempts):
            port = self.requested_port or free_port(self.host)
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    self._command(exe, config, port), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                    start_new_session=True, preexec_fn=_die_with_parent(os.getpid()),
                )
            self.port = port
            try:
                self._wait_ready()
                LOGGER.info("Prometheus pid %d ready at %s", self.proc.pid, self.url)
                return self
            except _PortTaken:
                self._terminate()
                LOGGER.warning("port %d taken before Prometheus bound it (attempt %d)", port, attempt + 1)
            except BaseException:
                self._terminate()
                raise
        raise CollectorError(f"Prometheus could not bind a free port on {self.host} after {attempts} attempts")

    def _log_tail(self, n: int = 5) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(lines[-n:])

    def _wait_ready(self) -> None:
        assert self.proc is not None
        deadline = time.monotonic() + self.ready_timeout_s
        url = f"http://{self.host}:{self.port}/-/ready"
        with requests.Session() as session:
            session.trust_env = False
            while True:
                code = self.proc.poll()
                if code is not None:
                    tail = self._log_tail()
                    if "address already in use" in tail.lower():
                        raise _PortTaken(tail)
                    raise CollectorError(f"Prometheus exited with code {code} at start-up: {tail or 'no log'}")
                try:
                    if session.get(url, timeout=1.0).status_code == 200:
                        return
                except requests.RequestException:
                    pass
                if time.monotonic() > deadline:
                    raise CollectorError(
                        f"Prometheus did not become ready within {self.ready_timeout_s:g} s "
                        f"(log: {self.log_path})")
                time.sleep(0.05)  # polling a condition with a deadline, not synchronising by sleep

    def _terminate(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            LOGGER.warning("Prometheus pid %d ignored SIGTERM; killing it", proc.pid)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(STOP_TIMEOUT_S)

    def stop(self) -> None:
        """Terminate the server (SIGKILL after a timeout) and wait for it."""
        self._terminate()
        self.port = None

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _PortTaken(Exception):
    """Prometheus lost the race for the port we picked."""
