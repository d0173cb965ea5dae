"""Ground truth against a real deployment: Aftershock's load generator aimed at a service URL.

Like the lab's clients (fleet/agents/loadgen.py), it sends open-loop Poisson arrivals of tasks belonging to
sessions, seeded (same seed, same tasks at the same times), and writes every request's outcome and latency
to the request log through ``core.logs`` (the one owner of that format), so every recovery figure of a
target run comes from what clients saw. Unlike them it knows nothing of the deployment's insides: one
endpoint (the user's service, which does its own balancing), one attempt per request, and a request shape
from the target (method, path, headers, a JSON body with ``{task}``, ``{session}``, ``{turn}``,
``{work_ms}``, ``{client_region}``). A reply's JSON may name the agent and region that served and the
session's turn count (the session-memory check); without them those columns stay empty.

Runs in the foreground (:meth:`ServiceLoad.run`, ``aftershock k8s load``) or on a thread of its own
(:class:`BackgroundLoad`, the runner). Requests are bounded by ``max_in_flight`` and every one by a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from core.logs import CsvLogWriter, request_log_writer
from engines.kubernetes.target import LoadShape, RequestShape

__all__ = ["ServiceLoad", "BackgroundLoad", "FLUSH_S"]

log = logging.getLogger("aftershock.engines.kubernetes.load")

#: How often buffered request-log rows are written.
FLUSH_S = 0.25
_PLACEHOLDERS = ("task", "session", "turn", "work_ms", "client_region")


@dataclass
class _Session:
    id: str
    turn: int = 0
    busy: bool = False


@dataclass
class ServiceLoad:
    """Clients of one service URL; ``counts`` tallies outcomes as they are logged."""

    service_url: str
    request: RequestShape
    load: LoadShape
    request_log: Path
    seed: int = 1
    counts: Counter = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self.service_url = self.service_url.rstrip("/")
        self.sessions = [_Session(f"s{i:05d}") for i in range(self.load.sessions)]
        self._rows: list[list[Any]] = []
        self._seq = 0
        self._log: CsvLogWriter | None = None
        #: Arrivals not sent because their session still had a request in flight (or too many were).
        self.dropped = 0

    # ---- one request ------------------------------------------------------------------------------
    def _values(self, session: _Session, task: str, work_ms: float) -> dict[str, Any]:
        return {"task": task, "session": session.id, "turn": session.turn, "work_ms": round(work_ms, 3),
                "client_region": self.load.client_region}

    def _body(self, values: dict[str, Any]) -> dict[str, Any] | None:
        if self.request.body is None:
            return None
        out: dict[str, Any] = {}
        for key, value in self.request.body.items():
            if isinstance(value, str):
                whole = value[1:-1] if value.startswith("{") and value.endswith("}") else None
                out[key] = values[whole] if whole in _PLACEHOLDERS else value.format(**values)
            else:
                out[key] = value
        return out

    async def _send(self, http: aiohttp.ClientSession, session: _Session, work_ms: float) -> None:
        session.busy = True
        self._seq += 1
        task = f"{session.id}.{self._seq}"
        values = self._values(session, task, work_ms)
        started_wall, started = time.time(), time.monotonic()
        outcome, reply = "error", None
        try:
            async with http.request(self.request.method, self.service_url + self.request.path.format(**values),
                                    json=self._body(values) if self.request.method != "GET" else None,
                                    headers=self.request.headers,
                                    timeout=aiohttp.ClientTimeout(total=self.load.timeout_s)) as resp:
                if resp.status in self.request.ok_status:
                    outcome = "ok"
                    with contextlib.suppress(aiohttp.ContentTypeError, ValueError):
                        reply = await resp.json(content_type=None)
                else:
                    await resp.read()
        except TimeoutError:
            outcome = "timeout"
        except (aiohttp.ClientError, OSError, ValueError):
            outcome = "error"
        finally:
            session.busy = False
        latency = time.monotonic() - started
        agent = served = session_ok = ""
        if outcome == "ok" and isinstance(reply, dict):
            agent = str(reply.get(self.request.agent_field, "") or "")
            served = str(reply.get(self.request.region_field, "") or "")
            turn = reply.get(self.request.turn_field) if self.request.turn_field else None
            if isinstance(turn, int) and not isinstance(turn, bool):
                session_ok = "1" if turn == session.turn + 1 else "0"
                session.turn = turn
        self.counts[outcome] += 1
        self._rows.append([f"{started_wall:.6f}", f"{started_wall + latency:.6f}", self.load.client_region,
                           session.id, outcome, f"{latency:.6f}", agent, served, session_ok, 1, task,
                           f"{float(self.load.tasks_per_s):g}"])

    def _flush(self) -> None:
        if self._rows and self._log is not None:
            rows, self._rows = self._rows, []
            self._log.write_rows(rows)

    # ---- arrivals ---------------------------------------------------------------------------------
    async def run(self, duration_s: float | None = None, stop: asyncio.Event | None = None) -> Counter:
        """Send load until ``duration_s`` passed or ``stop`` is set; waits for requests in flight."""
        stop = stop or asyncio.Event()
        arrivals = random.Random(f"{self.seed}:arrivals")
        chooser = random.Random(f"{self.seed}:sessions")
        self._log = request_log_writer(self.request_log)
        pending: set[asyncio.Task] = set()
        deadline = math.inf if duration_s is None else time.monotonic() + float(duration_s)
        connector = aiohttp.TCPConnector(limit=self.load.max_in_flight)
        try:
            async with aiohttp.ClientSession(connector=connector) as http:
                next_at, last_flush = time.monotonic(), time.monotonic()
                while not stop.is_set():
                    next_at += arrivals.expovariate(self.load.tasks_per_s)
                    if next_at >= deadline:
                        break
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=max(0.0, next_at - time.monotonic()))
                    if stop.is_set():
                        break
                    # one draw per arrival, whatever is busy: the same seed picks the same sessions in the same
                    # order however fast the service answers; an arrival for a busy session is dropped
                    session = chooser.choice(self.sessions)
                    if session.busy or len(pending) >= self.load.max_in_flight:
                        self.dropped += 1
                    else:
                        task = asyncio.create_task(self._send(http, session, self.load.work_ms))
                        pending.add(task)
                        task.add_done_callback(pending.discard)
                    if time.monotonic() - last_flush >= FLUSH_S:
                        last_flush = time.monotonic()
                        self._flush()
                if pending:
                    await asyncio.wait(pending, timeout=self.load.timeout_s + 1.0)
        finally:
            self._flush()
            self._log.close()
        return self.counts


class BackgroundLoad:
    """A :class:`ServiceLoad` on a thread with its own event loop: ``start()``, then ``stop()`` (which waits
    for the requests in flight and closes the log)."""

    def __init__(self, load: ServiceLoad) -> None:
        self.load = load
        self._loop = asyncio.new_event_loop()
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._main, name="aftershock-service-load", daemon=True)
        self.error: BaseException | None = None

    def _main(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def body() -> None:
            self._stop = asyncio.Event()
            self._ready.set()
            await self.load.run(stop=self._stop)

        try:
            self._loop.run_until_complete(body())
        except BaseException as exc:  # reported by stop(); a dead load generator must not pass silently
            self.error = exc
            self._ready.set()
        finally:
            self._loop.close()

    def start(self) -> BackgroundLoad:
        self._thread.start()
        self._ready.wait(10)
        return self

    def stop(self, timeout_s: float | None = None) -> Counter:
        if self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s if timeout_s is not None else self.load.load.timeout_s + 5.0)
        if self.error is not None:
            log.error("load generator against %s failed: %s", self.load.service_url, self.error)
        return self.load.counts
