"""Running the dashboard: the Streamlit server as a child that dies with its parent, its health, its stop.

Why the guard: ``aftershock dashboard`` (or ``demo``) killed with -9 used to leave its Streamlit server serving,
and the demo's runner breaking a lab, with nobody left to stop them. The server now runs through
``python -m dashboards.streamlit_child PARENT_PID ...``, which takes the parent-death signal and watches its parent
before handing over to Streamlit (core/procguard.py); the demo's runner gets SIGTERM when its parent dies, so it
rolls back and brings its lab down (and the lab's dead-man covers a runner that cannot).

The command line (aftershock/cli_dashboard.py) only parses, prints and sets the exit code.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import requests

from core.errors import UserError
from core.procguard import parent_guard_env
from core.runproc import RunCommand, spawn_run
from core.settings import Settings
from store import RunStore

__all__ = ["streamlit_argv", "guarded_argv", "dashboard_env", "read_token", "start_dashboard", "wait_healthy",
           "stop_process", "serve", "start_demo_run", "has_comparison", "url_of", "DEFAULT_PORT", "DEMO_RUN", "APP",
           "LOOPBACK", "DashboardFailed"]

log = logging.getLogger("aftershock.dashboards.server")

DEFAULT_PORT = 8501
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
RUNNER_STOP_TIMEOUT_S = 30.0
APP = Path(__file__).resolve().parent.parent / "app.py"
DEMO_RUN = RunCommand("region-loss-home", ("centralized", "decentralized", "hybrid"), json=False)
LOOPBACK = ("127.0.0.1", "localhost", "::1")
CHILD_MODULE = "dashboards.streamlit_child"


class DashboardFailed(UserError):
    """The Streamlit server did not come up (port in use, a broken install)."""


def read_token(token_file: Path | None, environ: Mapping[str, str]) -> str | None:
    """The dashboard token from ``--token-file`` (preferred) or the environment; None when neither is set."""
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise UserError(f"cannot read the token file {token_file}: {exc.strerror}") from exc
        if len(token) < 8:
            raise UserError(f"the token in {token_file} is empty or shorter than 8 characters")
        return token
    return (environ.get("AFTERSHOCK_DASHBOARD_TOKEN") or "").strip() or None


def streamlit_argv(host: str, port: int, python: str = sys.executable) -> list[str]:
    """``python -m streamlit run app.py`` bound to ``host:port``, headless, no usage statistics, no Deploy button
    (the theme is in .streamlit/config.toml beside app.py, the server's working directory)."""
    return [python, "-m", "streamlit", "run", str(APP), "--server.address", host, "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false", "--client.toolbarMode", "minimal"]


def guarded_argv(argv: list[str], parent_pid: int) -> list[str]:
    """The same command through the child guard: ``python -m dashboards.streamlit_child PARENT_PID streamlit ...``."""
    python, dash_m, module, *rest = argv
    if dash_m != "-m" or module != "streamlit":
        raise ValueError(f"not a `python -m streamlit` command: {argv[:3]}")
    return [python, "-m", CHILD_MODULE, str(parent_pid), *rest]


def dashboard_env(settings: Settings, host: str, token: str | None, base: Mapping[str, str]) -> dict[str, str]:
    """The streamlit subprocess' environment: where the data lives, the bind host and the token (if any)."""
    env = {k: v for k, v in base.items() if k != "AFTERSHOCK_DASHBOARD_TOKEN"}
    env.update({"AFTERSHOCK_HOME": str(settings.home), "AFTERSHOCK_DASHBOARD_HOST": host,
                "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"})
    if token:
        env["AFTERSHOCK_DASHBOARD_TOKEN"] = token
    return env


def start_dashboard(settings: Settings, host: str, port: int, token: str | None, *,
                    popen: Callable[..., subprocess.Popen] = subprocess.Popen) -> subprocess.Popen:
    """The Streamlit server as our guarded child (its own session, so Ctrl-C reaches us first)."""
    settings.ensure()
    return popen(guarded_argv(streamlit_argv(host, port), os.getpid()),
                 env=dashboard_env(settings, host, token, os.environ), cwd=str(APP.parent), stdin=subprocess.DEVNULL,
                 start_new_session=True)


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = READY_TIMEOUT_S) -> bool:
    """True once streamlit answers its health check; False if it exited or the deadline passed."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            if requests.get(f"{url}/_stcore/health", timeout=2).ok:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.2)  # polling a server that is starting, with a deadline
    return False


def stop_process(proc: subprocess.Popen | None, timeout_s: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM the process group, wait, then SIGKILL it (its children go with it)."""
    if proc is None or proc.poll() is not None:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=timeout_s)
            return
        except subprocess.TimeoutExpired:
            continue


def url_of(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def has_comparison(settings: Settings) -> bool:
    if not (settings.store_dir / "runs.sqlite").exists():
        return False
    with RunStore.open(settings.store_dir, readonly=True) as store:
        return not store.list_comparisons().empty


def start_demo_run(settings: Settings, log_path: Path) -> subprocess.Popen:
    """The demo's first comparison, as a child that gets SIGTERM (rolls back) when we die."""
    with open(log_path, "ab") as log_fh:
        return spawn_run(DEMO_RUN, settings.home, env=parent_guard_env(signal.SIGTERM), stdout=log_fh, stderr=log_fh,
                         start_new_session=True, cwd=str(APP.parent))


def _sigterm_as_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def serve(settings: Settings, host: str, port: int, token: str | None, *, extra: subprocess.Popen | None = None,
          on_ready: Callable[[str], None] = lambda _url: None) -> int:
    """Run streamlit until it exits or we get Ctrl-C / SIGTERM; always stop it (and ``extra``, the demo run)."""
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    proc = start_dashboard(settings, host, port, token)
    url = url_of(host, port)
    try:
        if not wait_healthy(url if host not in ("0.0.0.0", "::") else url_of("127.0.0.1", port), proc):
            raise DashboardFailed(f"the dashboard did not start on {host}:{port} (port in use? try --port)")
        on_ready(url)
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop_process(extra, timeout_s=RUNNER_STOP_TIMEOUT_S)  # the runner rolls back and brings its lab down
        stop_process(proc)
        signal.signal(signal.SIGTERM, previous)
