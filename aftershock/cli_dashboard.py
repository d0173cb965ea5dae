"""``aftershock dashboard`` and ``aftershock demo``: parse, print, exit code; the serving is dashboards/server.py.

The dashboard binds 127.0.0.1 unless told otherwise. Bound beyond loopback, the pages that trigger chaos
(Launch, Lab, the emergency stop) need a token (``--token-file`` or ``AFTERSHOCK_DASHBOARD_TOKEN``); without one
they are disabled. The Streamlit server (and the demo's runner) die with this process, also on ``kill -9``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from core.settings import Settings
from dashboards.server import DEFAULT_PORT, DEMO_RUN, LOOPBACK, has_comparison, read_token, serve, start_demo_run

__all__ = ["register", "cmd_dashboard", "cmd_demo"]


def register(subparsers: argparse._SubParsersAction) -> None:
    dash = subparsers.add_parser("dashboard", help="open the browser dashboard (binds 127.0.0.1 by default)")
    dash.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    dash.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    dash.add_argument("--token-file", type=Path, help="file holding the token that unlocks Launch, Lab and the "
                                                       "emergency stop when bound beyond loopback "
                                                       "(or set AFTERSHOCK_DASHBOARD_TOKEN)")
    dash.set_defaults(func=cmd_dashboard)
    demo = subparsers.add_parser("demo", help="dashboard on loopback plus a first comparison if the store has none")
    demo.add_argument("--port", type=_port, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT})")
    demo.set_defaults(func=cmd_demo)


def _port(raw: str) -> int:
    try:
        port = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"port {port} is not in 1..65535")
    return port


def _ready(url: str) -> None:
    print(f"Aftershock dashboard: {url}  (Ctrl-C to stop)", flush=True)


def cmd_dashboard(args: argparse.Namespace, settings: Settings) -> int:
    token = read_token(args.token_file, os.environ)
    if args.host not in LOOPBACK and not token:
        print(f"aftershock: dashboard bound to {args.host} without a token: Launch, Lab and the emergency stop are "
              "disabled (use --token-file to enable them)", file=sys.stderr)
    return serve(settings, args.host, args.port, token, on_ready=_ready)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    settings.ensure()
    runner = None
    if not has_comparison(settings):
        log_path = settings.home / "demo-run.log"
        runner = start_demo_run(settings, log_path)
        print(f"Running the demo comparison ({DEMO_RUN.experiment} on {', '.join(DEMO_RUN.topologies)}); "
              f"log: {log_path}", flush=True)
    else:
        print("The store already holds a comparison: showing it (no new run).", flush=True)
    return serve(settings, "127.0.0.1", args.port, None, extra=runner, on_ready=_ready)
