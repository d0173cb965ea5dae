"""Named timing presets, so intervals live in one place instead of scattered literals.

Like memberlist's LAN/WAN/Local configs: a topology names a preset and may override fields.
``lab`` is the default for built-in topologies (a scaled-down clock: experiments last a minute,
not an hour); ``test`` is faster still, for the test suite; ``lan`` and ``wan`` follow memberlist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

__all__ = ["MEMBERSHIP_PRESETS", "HEALTH_PRESETS", "EventLoop", "DEFAULT_EVENT_LOOP", "PeerTransport",
           "DEFAULT_PEER_TRANSPORT", "Spawn", "LabOptions"]

#: The event loops a lab process can run on (fleet/agents/runtime.py). uvloop (libuv underneath, a kept library)
#: costs the lab's processes markedly less CPU per message than asyncio's own loop (docs/benchmarks.md measures
#: both in one run); asyncio's stays selectable as the same-run baseline.
EventLoop = Literal["uvloop", "asyncio"]
DEFAULT_EVENT_LOOP: EventLoop = "uvloop"
#: How mesh nodes send SWIM and replication: datagrams through the regions' relays, or HTTP through the proxies
#: (the transport before datagrams; the baseline of bench/bench_lab.py).
PeerTransport = Literal["udp", "http"]
DEFAULT_PEER_TRANSPORT: PeerTransport = "udp"
#: How the supervisor starts lab children: forked by the lab's fork server (fleet/agents/zygote.py), or each its
#: own ``python -m fleet.agents`` (a third of a second of imports each; the baseline, and a fallback).
Spawn = Literal["fork", "exec"]


@dataclass(frozen=True)
class LabOptions:
    """How the embedded lab runs its processes, not what it models (that is the topology): every choice leaves
    the semantics alone (each node its own OS process, every inter-region message through the link layer) and
    only changes what the lab costs the machine. The defaults are the fast lab; ``baseline()`` is the lab as it
    was before them, which bench/bench_lab.py measures in the same run."""

    event_loop: EventLoop = DEFAULT_EVENT_LOOP
    peer_transport: PeerTransport = DEFAULT_PEER_TRANSPORT
    spawn: Spawn = "fork"

    @classmethod
    def baseline(cls) -> LabOptions:
        return cls(event_loop="asyncio", peer_transport="http", spawn="exec")

    @classmethod
    def parse(cls, label: str) -> LabOptions:
        """``LOOP/TRANSPORT/SPAWN`` (e.g. ``asyncio/http/exec``; trailing parts default), or ``baseline``."""
        if label == "baseline":
            return cls.baseline()
        parts = label.split("/")
        names = ("event_loop", "peer_transport", "spawn")
        kinds = (EventLoop, PeerTransport, Spawn)
        if len(parts) > len(names) or any(p not in get_args(k) for p, k in zip(parts, kinds, strict=False)):
            choices = "/".join("|".join(get_args(k)) for k in kinds)
            raise ValueError(f"{label!r}: expected LOOP/TRANSPORT/SPAWN from {choices}")
        return cls(**dict(zip(names, parts, strict=False)))

    @property
    def label(self) -> str:
        return f"{self.event_loop}/{self.peer_transport}/{self.spawn}"

    def args(self) -> list[str]:
        """The supervisor's command-line options for these choices."""
        return ["--event-loop", self.event_loop, "--peer-transport", self.peer_transport, "--spawn", self.spawn]

MEMBERSHIP_PRESETS: dict[str, dict[str, float | int]] = {
    "lan": {"probe_period_s": 1.0, "probe_timeout_s": 0.5, "indirect_probes": 3, "suspicion_mult": 4},
    "wan": {"probe_period_s": 5.0, "probe_timeout_s": 3.0, "indirect_probes": 3, "suspicion_mult": 6},
    "lab": {"probe_period_s": 0.5, "probe_timeout_s": 0.25, "indirect_probes": 2, "suspicion_mult": 2},
    "test": {"probe_period_s": 0.25, "probe_timeout_s": 0.15, "indirect_probes": 2, "suspicion_mult": 2},
}

HEALTH_PRESETS: dict[str, dict[str, float | int]] = {
    "lan": {"interval_s": 1.0, "timeout_s": 0.5, "failure_threshold": 3},
    "wan": {"interval_s": 5.0, "timeout_s": 3.0, "failure_threshold": 3},
    "lab": {"interval_s": 0.5, "timeout_s": 0.25, "failure_threshold": 3},
    "test": {"interval_s": 0.25, "timeout_s": 0.15, "failure_threshold": 3},
}
