"""What every lab child process shares: its metrics, logging to stderr, parent watch, clean exit."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar, get_args

import uvloop
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from fleet.agents.config import ChildConfig
from fleet.agents.proc import set_pdeathsig, watch_parent
from fleet.presets import DEFAULT_EVENT_LOOP, EventLoop

__all__ = ["NodeMetrics", "run_child", "run_loop", "EventLoop", "EVENT_LOOPS", "DEFAULT_EVENT_LOOP", "LATENCY_BUCKETS"]

T = TypeVar("T")
EVENT_LOOPS: tuple[str, ...] = get_args(EventLoop)


LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0)


class NodeMetrics:
    """The node metrics of docs/metrics.md, on a registry of their own."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.agents_alive = Gauge("aftershock_agents_alive", "Agents hosted (hub: managed) that serve", registry=r)
        self.tasks = Counter("aftershock_tasks", "Tasks handled, by outcome", ["outcome"], registry=r)
        self.in_flight = Gauge("aftershock_tasks_in_flight", "Tasks being worked on", registry=r)
        self.duration = Histogram(
            "aftershock_task_duration_seconds", "Task handling time", buckets=LATENCY_BUCKETS, registry=r
        )
        self.members_alive = Gauge("aftershock_members_alive", "Members this node believes alive", registry=r)
        self.sessions_held = Gauge("aftershock_sessions_held", "Session memories held here", registry=r)
        self.restarts = Counter("aftershock_restarts", "Restarts this node ordered", registry=r)
        self.migrations = Counter("aftershock_migrations", "Replacements this node spawned", registry=r)
        for outcome in ("ok", "error", "rejected", "queued", "forwarded"):
            self.tasks.labels(outcome)


def run_loop(main: Coroutine[Any, Any, T], event_loop: str = DEFAULT_EVENT_LOOP) -> T:
    """Run ``main`` to completion on a fresh loop of the kind ``event_loop`` names (asyncio.run's semantics)."""
    if event_loop not in EVENT_LOOPS:
        raise ValueError(f"unknown event loop {event_loop!r}; one of {', '.join(EVENT_LOOPS)}")
    factory = uvloop.new_event_loop if event_loop == "uvloop" else None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def run_child(main: Callable[[ChildConfig], Awaitable[None]], config: ChildConfig) -> None:
    """Run a child's main coroutine until SIGTERM/SIGINT, dying with the supervisor if it dies."""
    set_pdeathsig()
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s {config.name} %(levelname)s %(message)s")

    async def runner() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        watcher = asyncio.create_task(watch_parent(config.parent_pid))
        task = asyncio.create_task(main(config))
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
        for t in (task, stopper, watcher):
            t.cancel()
        await asyncio.gather(task, stopper, watcher, return_exceptions=True)
        if task in done and task.exception() is not None:
            raise task.exception()

    run_loop(runner(), config.event_loop)
