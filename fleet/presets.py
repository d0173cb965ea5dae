"""Named timing presets, so intervals live in one place instead of scattered literals.

Like memberlist's LAN/WAN/Local configs: a topology names a preset and may override fields.
``lab`` is the default for built-in topologies (a scaled-down clock: experiments last a minute,
not an hour); ``test`` is faster still, for the test suite; ``lan`` and ``wan`` follow memberlist.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["MEMBERSHIP_PRESETS", "HEALTH_PRESETS", "EventLoop", "DEFAULT_EVENT_LOOP", "PeerTransport",
           "DEFAULT_PEER_TRANSPORT"]

#: The event loops a lab process can run on (fleet/agents/runtime.py). uvloop (libuv underneath, a kept library)
#: costs the lab's processes markedly less CPU per message than asyncio's own loop (docs/benchmarks.md measures
#: both in one run); asyncio's stays selectable as the same-run baseline.
EventLoop = Literal["uvloop", "asyncio"]
DEFAULT_EVENT_LOOP: EventLoop = "uvloop"
#: How mesh nodes send SWIM and replication: datagrams through the regions' relays, or HTTP through the proxies
#: (the transport before datagrams; the baseline of bench/bench_lab.py).
PeerTransport = Literal["udp", "http"]
DEFAULT_PEER_TRANSPORT: PeerTransport = "udp"

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
