"""``aftershock dashboard`` and ``aftershock demo``: start the Streamlit app (and, for the demo, a comparison).

The dashboard binds 127.0.0.1 unless told otherwise. Bound beyond loopback, the pages that trigger chaos
(Launch, Lab) need a token (``--token-file`` or ``AFTERSHOCK_DASHBOARD_TOKEN``); without one they are
disabled. Settings reach the app as environment variables of the streamlit subprocess.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import requests

from core.errors import UserError
from core.runproc import RunCommand, spawn_run
from core.settings import Settings
from store import RunStore

__all__ = ["register", "cmd_dashboard", "cmd_demo", "streamlit_argv", "dashboard_env", "read_token",
           "start_dashboard", "wait_healthy", "stop_process", "DEFAULT_PORT", "DEMO_RUN"]

DEFAULT_PORT = 8501
READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
RUNNER_STOP_TIMEOUT_S = 30.0
APP = Path(__file__).resolve().parent.parent / "app.py"
DEMO_RUN = RunCommand("region-loss-home", ("centralized", "decentralized", "hybrid"), json=False)
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def register(subparsers: argparse._SubParsersAction) -> None:
    dash = subparsers.add_parser("dashboard", help="open the browser dashboard (binds 127.0.0.1 by default)")
    dash.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    dash.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    dash.add_argument("--token-file", type=Path, help="file holding the token that unlocks Launch and Lab when "
                                                       "bound beyond loopback (or set AFTERSHOCK_DASHBOARD_TOKEN)")
    dash.set_defaults(func=cmd_dashboard)
    demo = subparsers.add_parser("demo", help="dashboard on loopback plus a first comparison if the store has none")
    demo.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    demo.set_defaults(func=cmd_demo)


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
    return [python, "-m", "streamlit", "run", str(APP), "--server.address", host, "--server.port", str(port),
            "--server.headless", "true", "--browser.gatherUsageStats", "false"]


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
    settings.ensure()
    return popen(streamlit_argv(host, port), env=dashboard_env(settings, host, token, os.environ),
                 cwd=str(APP.parent), stdin=subprocess.DEVNULL, start_new_session=True)


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
        time.sleep(0.2)
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


def _url(host: str, port: int) -> str:
    shown = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    return f"http://[{shown}]:{port}" if ":" in shown else f"http://{shown}:{port}"


def _sigterm_as_interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def _serve(settings: Settings, host: str, port: int, token: str | None, extra: subprocess.Popen | None = None) -> int:
    """Run streamlit until it exits or we get Ctrl-C / SIGTERM; always stop it (and ``extra``, the demo run)."""
    previous = signal.signal(signal.SIGTERM, _sigterm_as_interrupt)
    proc = start_dashboard(settings, host, port, token)
    url = _url(host, port)
    try:
        if not wait_healthy(url if host not in ("0.0.0.0", "::") else _url("127.0.0.1", port), proc):
            raise UserError(f"the dashboard did not start on {host}:{port} (port in use? try --port)")
        print(f"Aftershock dashboard: {url}  (Ctrl-C to stop)", flush=True)
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop_process(extra, timeout_s=RUNNER_STOP_TIMEOUT_S)  # the runner rolls back and brings its lab down
        stop_process(proc)
        signal.signal(signal.SIGTERM, previous)


def cmd_dashboard(args: argparse.Namespace, settings: Settings) -> int:
    token = read_token(args.token_file, os.environ)
    if args.host not in LOOPBACK and not token:
        print(f"aftershock: dashboard bound to {args.host} without a token: Launch and Lab are disabled "
              "(use --token-file to enable them)", file=sys.stderr)
    return _serve(settings, args.host, args.port, token)


def _has_comparison(settings: Settings) -> bool:
    if not (settings.store_dir / "runs.sqlite").exists():
        return False
    with RunStore.open(settings.store_dir, readonly=True) as store:
        return not store.list_comparisons().empty


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    settings.ensure()
    runner = None
    if not _has_comparison(settings):
        log_path = settings.home / "demo-run.log"
        with open(log_path, "ab") as log_fh:
            runner = spawn_run(DEMO_RUN, settings.home, stdout=log_fh, stderr=log_fh, start_new_session=True,
                               cwd=str(APP.parent))
        print(f"Running the demo comparison ({DEMO_RUN.experiment} on {', '.join(DEMO_RUN.topologies)}); "
              f"log: {log_path}", flush=True)
    else:
        print("The store already holds a comparison: showing it (no new run).", flush=True)
    return _serve(settings, "127.0.0.1", args.port, None, extra=runner)
