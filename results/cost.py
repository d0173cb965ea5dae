"""Cost of stored runs for the JSON summary: each run's provisioned and busy agent-seconds, utilisation and
agent-hours per 1,000 successful tasks (analysis/cost.py), over the run's analysis window from injection.

The summary carries a unit price (1 per agent-hour), so ``cost_per_1000_ok`` reads as agent-hours per 1,000
successful tasks; multiply by a real price per agent-hour, or call ``analysis.cost.run_cost`` with prices per
region. Runs without a request log or an execution log get ``null`` figures and a note, never zeros.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from analysis.cost import run_cost, utilisation_over_time
from analysis.elasticity import ScaleStep, agents_over_time, scale_steps
from analysis.jsonsafe import json_safe
from store import RunStore

__all__ = ["cost_of_run", "cost_of_comparison"]

log = logging.getLogger("results.cost")


WindowOf = Callable[[dict[str, Any]], float]


def cost_of_run(store: RunStore, run_id: str, window_of: WindowOf, *, price_per_agent_hour: float = 1.0,
                region_prices: dict[str, float] | None = None) -> dict[str, Any]:
    """``window_of(run)`` is the run's analysis window T (results.stored.run_window, passed in: no cycle)."""
    run = store.get_run(run_id)
    topology = (run.get("settings") or {}).get("topology") or {}
    base = {"run_id": run_id, "topology": run.get("topology"), "repeat": int(run.get("repeat") or 0)}
    if run.get("injected_at") is None or not topology or store.request_log_path(run_id) is None:
        return {**base, "cost": None, "note": "no injection, topology or request log: cost not computed"}
    executions = store.load_executions(run_id)
    if executions is None:
        return {**base, "cost": None, "note": "no execution log: busy time unknown"}
    start = float(run["injected_at"])
    end = start + window_of(run)
    agents, slots_per_agent = _agents_and_slots(topology)
    steps = scale_steps(store.load_events(run_id))
    report = run_cost(executions, store.load_requests(run_id), start=start, end=end,
                      agents_per_region=agents, slots_per_agent=slots_per_agent,
                      price_per_agent_hour=price_per_agent_hour, region_prices=region_prices, steps=steps)
    return {**base, "cost": json_safe(report.to_dict()),
            "over_time": over_time(executions, start, end, sum(agents.values()), slots_per_agent, steps)}


def over_time(executions: Any, start: float, end: float, agents: int, slots_per_agent: float,
              steps: list[ScaleStep], bin_s: float = 1.0) -> dict[str, list[float]]:
    """Per bin from the injection: agents provisioned (moved by the autoscaler's steps) and the agents' worth of
    work done (busy slot-seconds / slots per agent / bin): the "provisioned against used" curves."""
    busy = utilisation_over_time(executions, start, end, slots=slots_per_agent, bin_s=bin_s)
    timeline = agents_over_time(agents, steps)
    provisioned = [next((a for ts, a in reversed(timeline) if ts <= t), agents)
                   for t in busy["t"].to_numpy(dtype=float) + start]
    return json_safe({"t": [round(float(t), 3) for t in busy["t"]], "provisioned_agents": provisioned,
                      "busy_agents": [round(float(u), 3) for u in busy["utilisation"].fillna(0.0)]})


def _agents_and_slots(topology: dict[str, Any]) -> tuple[dict[str, int], float]:
    """Agents per region and the mean task slots of an agent, node classes counted with their own agents and
    slots (fleet/nodeclasses.py; without classes: nodes x agents_per_node, agent_concurrency)."""
    per_node, slots = int(topology.get("agents_per_node", 1)), int(topology.get("agent_concurrency", 1))
    classes = topology.get("node_classes") or {}
    agents: dict[str, int] = {}
    total_slots = 0
    for region in topology.get("regions", []):
        agents[region["name"]] = int(region["nodes"]) * per_node
        total_slots += int(region["nodes"]) * per_node * slots
        for name, count in (region.get("classes") or {}).items():
            spec = classes.get(name) or {}
            n = int(count) * int(spec.get("agents_per_node") or per_node)
            agents[region["name"]] += n
            total_slots += n * int(spec.get("agent_concurrency") or slots)
    total = sum(agents.values())
    return agents, (total_slots / total if total else float(slots))


def cost_of_comparison(store: RunStore, comparison: dict[str, Any], window_of: WindowOf) -> list[dict[str, Any]]:
    """One cost entry per run of a stored comparison (the summary's ``cost`` list)."""
    return [cost_of_run(store, r["run_id"], window_of) for r in comparison.get("runs", [])]
