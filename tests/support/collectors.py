"""Real servers on port 0 for the collector tests: metrics targets, a silent server, a scripted fake
Prometheus, a closed port. Every helper is a context manager so teardown runs even when a test fails."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from collectors.base import Target
from core.wait import wait_until

HOSTILE = 'a"b\\c\nd{e}=\',f}'


def wait_for(cond: Callable[[], object], timeout: float, what: str, poll: float = 0.05) -> object:
    """``fleet.lab.wait_until`` that fails the test (rather than erroring) when time runs out."""
    try:
        return wait_until(cond, timeout, interval_s=poll, what=what)
    except TimeoutError as exc:
        pytest.fail(str(exc))


def require_prometheus() -> str:
    """The prometheus binary, or skip (fail when AFTERSHOCK_REQUIRE_PROMETHEUS=1)."""
    exe = shutil.which("prometheus")
    if exe is None:
        if os.environ.get("AFTERSHOCK_REQUIRE_PROMETHEUS") == "1":
            pytest.fail("prometheus binary not on PATH and AFTERSHOCK_REQUIRE_PROMETHEUS=1")
        pytest.skip("prometheus binary not on PATH")
    return exe


def node_registry(index: int) -> CollectorRegistry:
    """A realistic node: counters, a histogram, a wall-clock gauge and a label clashing with ``node``."""
    registry = CollectorRegistry()
    tasks = Counter("aftershock_tasks", "tasks", ["outcome"], registry=registry)
    for n, outcome in enumerate(("ok", "error", "rejected", "forwarded")):
        tasks.labels(outcome).inc(10 * (index + 1) + n)
    hist = Histogram("aftershock_task_duration_seconds", "duration", registry=registry)
    for k in range(index + 3):
        hist.observe(0.01 * (k + 1))
    Gauge("aftershock_test_clock_seconds", "wall clock at scrape", registry=registry).set_function(time.time)
    Gauge("aftershock_test_hostile", "hostile label value", ["v"], registry=registry).labels(HOSTILE).set(index)
    Gauge("aftershock_test_clash", "exposes a node label", ["node"], registry=registry).labels("inner").set(1)
    return registry


@dataclass
class MetricsTarget:
    """A prometheus_client HTTP server on 127.0.0.1:0."""
    target: Target
    server: object
    closed: bool = False

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.server.shutdown()  # type: ignore[attr-defined]
            self.server.server_close()  # type: ignore[attr-defined]


@contextlib.contextmanager
def metrics_targets(count: int) -> Iterator[list[MetricsTarget]]:
    started: list[MetricsTarget] = []
    try:
        for i in range(count):
            server, _thread = start_http_server(0, addr="127.0.0.1", registry=node_registry(i))
            url = f"http://127.0.0.1:{server.server_port}/metrics"
            started.append(MetricsTarget(Target(url, {"node": f"n{i}", "region": f"r{i % 2}", "role": "agent"}),
                                         server))
        yield started
    finally:
        for t in started:
            t.close()


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.settimeout(0.1)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept_loop() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except (TimeoutError, OSError):
                continue
            held.append(conn)

    thread = threading.Thread(target=accept_loop, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        sock.close()


@contextlib.contextmanager
def closed_port() -> Iterator[str]:
    """A bound but not listening port: connecting is refused, and nobody else can take it meanwhile."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        sock.close()


Response = tuple[int, str, str]  # status, content type, body


def matrix_body(request_query: dict[str, list[str]]) -> str:
    """A valid query_range answer with one series, one point per step of the requested chunk."""
    start, end, step = (float(request_query[k][0]) for k in ("start", "end", "step"))
    n = int(round((end - start) / step)) + 1
    values = [[start + i * step, "1"] for i in range(n)]
    return json.dumps({"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": {"__name__": "m", "job": "j"}, "values": values}]}})


@dataclass
class FakePrometheus:
    """Answers each request with the next scripted response (or ``default``) and records the requests."""
    url: str = ""
    script: list[Callable[[dict[str, list[str]]], Response]] = field(default_factory=list)
    default: Callable[[dict[str, list[str]]], Response] | None = None
    requests: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)


@contextlib.contextmanager
def fake_prometheus() -> Iterator[FakePrometheus]:
    fake = FakePrometheus()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            with lock:
                fake.requests.append((parts.path, query))
                responder = fake.script.pop(0) if fake.script else fake.default
            status, ctype, body = responder(query) if responder else (404, "text/plain", "no script")
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_POST = do_GET  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(2)
