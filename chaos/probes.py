"""Chaos Toolkit probes over an Aftershock lab, for steady-state hypotheses and the method.

Availability, latency and lost sessions come from the lab's request log (the clients' ground truth),
read from the end of the file so a probe stays cheap on a lab that has run for hours; live agents and
nodes come from the lab's status. Use them with tolerances, e.g.
``tolerance: {type: range, range: [0.99, 1.0]}`` on ``availability``.
"""

import logging
import math
import time
from typing import Any

from chaoslib.types import Configuration, Secrets

from chaos import targets as tg
from chaos.labref import resolve_lab
from core.errors import ExperimentError
from core.logs import read_requests_since

__all__ = ["availability", "p99_latency", "sessions_lost", "agents_alive", "nodes_alive", "request_counts"]

log = logging.getLogger("aftershock.chaos")


def _window(window_s: float, region: str | None, configuration: Configuration) -> tuple[str, list[dict[str, str]]]:
    if not window_s > 0:
        raise ExperimentError(f"window_s must be > 0, not {window_s}")
    lab = resolve_lab(configuration)
    now = time.time()
    rows = read_requests_since(lab.request_log, now - float(window_s), key="end")
    if region is not None:
        tg.select_regions(lab.status, region)  # a typo in the region is an error, not "no requests"
        rows = [r for r in rows if r["client_region"] == region]
    return lab.name, rows


def request_counts(
    window_s: float = 10.0, region: str | None = None, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, int]:
    """Requests that finished in the last ``window_s`` seconds, by outcome (ok, error, timeout)."""
    _, rows = _window(window_s, region, configuration)
    counts = {"ok": 0, "error": 0, "timeout": 0}
    for r in rows:
        counts[r["outcome"]] = counts.get(r["outcome"], 0) + 1
    return counts


def availability(
    window_s: float = 10.0, region: str | None = None, configuration: Configuration = None, secrets: Secrets = None
) -> float:
    """ok / all requests that finished in the last ``window_s`` seconds (0..1), optionally for one client region.

    No request at all in the window means the clients are not running: that is an error, not 100 %.
    """
    name, rows = _window(window_s, region, configuration)
    if not rows:
        raise ExperimentError(
            f"no requests finished in the last {window_s:g}s in lab {name}"
            f"{' for region ' + region if region else ''}; is its load generator running?"
        )
    value = sum(r["outcome"] == "ok" for r in rows) / len(rows)
    log.debug("availability of lab %s over %gs: %.4f (%d requests)", name, window_s, value, len(rows))
    return value


def p99_latency(
    window_s: float = 10.0,
    region: str | None = None,
    outcome: str = "ok",
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> float:
    """99th percentile latency (seconds) of the requests that finished in the window.

    ``outcome`` 'ok' (served requests, the default) or 'all' (timeouts count with their full wait).
    """
    if outcome not in ("ok", "all"):
        raise ExperimentError(f"p99_latency: outcome must be 'ok' or 'all', not {outcome!r}")
    name, rows = _window(window_s, region, configuration)
    values = sorted(float(r["latency_s"]) for r in rows if outcome == "all" or r["outcome"] == "ok")
    if not values:
        raise ExperimentError(f"no {'served ' if outcome == 'ok' else ''}requests in the last {window_s:g}s "
                              f"in lab {name}; latency is undefined")
    rank = max(0, math.ceil(0.99 * len(values)) - 1)  # nearest-rank percentile
    return values[rank]


def sessions_lost(
    window_s: float = 10.0, region: str | None = None, configuration: Configuration = None, secrets: Secrets = None
) -> int:
    """Served requests in the window whose session memory did not survive (``session_ok == '0'``)."""
    _, rows = _window(window_s, region, configuration)
    return sum(1 for r in rows if r["outcome"] == "ok" and r["session_ok"] == "0")


def agents_alive(
    region: str | None = None,
    role: str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> int:
    """Agents serving now per the lab's status (alive, on a live node that is not paused).

    ``role`` filters by the hosting node's role (agent|hub); hubs host no agents in the built-in topologies.
    """
    lab = resolve_lab(configuration)
    status: dict[str, Any] = lab.live_status()
    hosts = {n["name"] for n in tg.node_candidates(status, region=region, role=role)}
    return sum(1 for a in tg.agent_candidates(status, region=region) if a["node"] in hosts)


def nodes_alive(
    region: str | None = None,
    role: str | None = None,
    include_paused: bool = False,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> int:
    """Nodes whose process runs (paused ones only with ``include_paused``), per the lab's status."""
    lab = resolve_lab(configuration)
    status = lab.live_status()
    alive = len(tg.node_candidates(status, region=region, role=role, state="alive"))
    if include_paused:
        alive += len(tg.node_candidates(status, region=region, role=role, state="paused"))
    return alive
