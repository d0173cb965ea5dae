"""What every collector shares: the sink it writes to, the targets it reads, the start/stop protocol.

A collector never owns storage: the run store (or a test's :class:`MemorySink`) is passed in, so the
embedded scraper and the Prometheus materialiser write the same rows through the same door.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from core.errors import CollectorError

__all__ = [
    "Sample",
    "SampleSink",
    "Collector",
    "CollectorBase",
    "Target",
    "targets_from_status",
    "MemorySink",
    "flush_sink",
    "LOGGER",
]

LOGGER = logging.getLogger("aftershock.collectors")

#: One observation: (unix seconds, metric name as exposed, labels, value).
Sample = tuple[float, str, Mapping[str, str], float]


@runtime_checkable
class SampleSink(Protocol):
    """Where samples go; the run store implements it (``flush()`` is optional and called when present)."""
    def append_samples(self, run_id: str, samples: Iterable[Sample]) -> None: ...


@runtime_checkable
class Collector(Protocol):
    """A source of samples for one run: ``start()``, ``stop()`` (which flushes), usable as ``with``."""
    def start(self) -> None: ...

    def stop(self) -> None: ...

    def __enter__(self) -> Any: ...

    def __exit__(self, *exc: object) -> None: ...


class CollectorBase:
    """Context-manager plumbing shared by the concrete collectors."""
    def start(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def stop(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def __enter__(self) -> Any:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def flush_sink(sink: SampleSink) -> None:
    """Call ``sink.flush()`` when the sink has one; stores buffer, test sinks usually do not."""
    flush = getattr(sink, "flush", None)
    if callable(flush):
        flush()


@dataclass(frozen=True)
class Target:
    """One ``/metrics`` endpoint and the labels every sample scraped from it receives."""
    url: str
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise CollectorError(f"bad scrape target URL {self.url!r}: expected http://host:port/metrics")

    @property
    def address(self) -> str:
        """``host:port``, the value Prometheus gives the ``instance`` label."""
        parts = urlsplit(self.url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        return f"{parts.hostname}:{port}"

    @property
    def path(self) -> str:
        return urlsplit(self.url).path or "/metrics"

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        """Identity of the target (URL and labels), used to diff target lists."""
        return (self.url, tuple(sorted(self.labels.items())))


def targets_from_status(status: Mapping[str, Any]) -> list[Target]:
    """Scrape targets of a lab from its status JSON (docs/contracts.md): every node plus the clients.

    Nodes are listed whether alive or not: a killed node must show up as ``up == 0``, not vanish.
    """
    targets: list[Target] = []
    for node in status.get("nodes") or []:
        url = node.get("metrics_url")
        if not url:
            continue
        labels = {"node": str(node.get("name", "")), "region": str(node.get("region", "")),
                  "role": str(node.get("role", ""))}
        targets.append(Target(url=url, labels=labels))
    clients = status.get("clients") or {}
    if clients.get("metrics_url"):
        targets.append(Target(url=clients["metrics_url"], labels={"role": "clients"}))
    for endpoint in status.get("engine_metrics") or []:  # the engine's own export (Ray's, per Ray node)
        if endpoint.get("url"):
            labels = {str(k): str(v) for k, v in (endpoint.get("labels") or {}).items()}
            targets.append(Target(url=str(endpoint["url"]), labels=labels))
    return targets


class MemorySink:
    """A thread-safe in-memory sink, for tests, benchmarks and short live views."""
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.samples: dict[str, list[Sample]] = {}
        self.flushes = 0

    def append_samples(self, run_id: str, samples: Iterable[Sample]) -> None:
        batch = list(samples)
        with self._lock:
            self.samples.setdefault(run_id, []).extend(batch)

    def flush(self) -> None:
        with self._lock:
            self.flushes += 1

    def rows(self, run_id: str) -> list[Sample]:
        """A snapshot copy of the run's samples."""
        with self._lock:
            return list(self.samples.get(run_id, ()))

    def count(self, run_id: str) -> int:
        with self._lock:
            return len(self.samples.get(run_id, ()))
