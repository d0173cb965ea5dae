"""A topology's nominal capacity: task slots over the mean work time, as a pure function.

``capacity = agents x agent_concurrency / E[work time]`` tasks/s, where the work time is the workload's
distribution capped at ``max_ms`` (the load generator draws ``min(X, max_ms)``). This is the bound the slots
allow if every slot were busy all the time with nothing but work: it leaves out the network, the session
reads and writes and a hub's own hop, so a deployment saturates somewhat below it (docs/topologies.md,
"Capacity and overload"). Utilisation is the asked rate over this capacity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["Capacity", "mean_work_s", "nominal_capacity", "capacity_of_slots"]


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


def mean_work_s(distribution: str, median_ms: float, sigma: float, max_ms: float) -> float:
    """E[min(X, max_ms)] in seconds for the work-time distributions the load generator draws from."""
    cap = max_ms
    if distribution == "constant":
        mean_ms = min(median_ms, cap)
    elif distribution == "uniform":  # X ~ U(0, 2m): E[min(X, c)] = c - c^2 / 4m for c < 2m
        width = 2 * median_ms
        mean_ms = median_ms if cap >= width else cap - cap * cap / (2 * width)
    elif distribution == "exponential":  # rate ln2/m: E[min(X, c)] = (1 - e^{-lc}) / l
        lam = math.log(2) / median_ms
        mean_ms = (1 - math.exp(-lam * cap)) / lam
    else:  # lognormal(mu = ln m, sigma), capped
        mu = math.log(median_ms)
        if sigma == 0:
            mean_ms = min(median_ms, cap)
        else:
            z = (math.log(cap) - mu) / sigma
            mean_ms = math.exp(mu + sigma**2 / 2) * _phi(z - sigma) + cap * (1 - _phi(z))
    return mean_ms / 1000.0


@dataclass(frozen=True)
class Capacity:
    """Slots, mean work time and the tasks/s they allow; ``per_region`` splits the slots by region."""

    slots: int
    mean_work_s: float
    tasks_per_s: float
    per_region: dict[str, float]
    per_class: dict[str, float] = field(default_factory=dict)  # tasks/s per node class (topologies with classes)

    def utilisation(self, asked_tasks_per_s: float) -> float:
        return asked_tasks_per_s / self.tasks_per_s if self.tasks_per_s > 0 else math.inf

    def without(self, region: str) -> float:
        """Capacity (tasks/s) left when ``region`` is lost."""
        return self.tasks_per_s - self.per_region.get(region, 0.0)


def nominal_capacity(regions: dict[str, int], agents_per_node: int, concurrency: int, distribution: str,
                     median_ms: float, sigma: float, max_ms: float) -> Capacity:
    """Capacity of ``regions`` (region -> nodes) hosting ``agents_per_node`` agents of ``concurrency`` slots."""
    work = mean_work_s(distribution, median_ms, sigma, max_ms)
    per_region = {r: n * agents_per_node * concurrency / work for r, n in regions.items()}
    slots = sum(n * agents_per_node * concurrency for n in regions.values())
    return Capacity(slots, work, slots / work, per_region)


def capacity_of_slots(slots: dict[str, dict[str, int]], distribution: str, median_ms: float, sigma: float,
                      max_ms: float) -> Capacity:
    """Capacity of ``slots`` (region -> node class -> task slots): node classes size their agents apart
    (fleet/nodeclasses.py), so the slots are counted per class, then summed per region and per class."""
    work = mean_work_s(distribution, median_ms, sigma, max_ms)
    per_region = {r: sum(by_class.values()) / work for r, by_class in slots.items()}
    per_class: dict[str, float] = {}
    for by_class in slots.values():
        for name, n in by_class.items():
            per_class[name] = per_class.get(name, 0.0) + n / work
    total = sum(sum(by_class.values()) for by_class in slots.values())
    return Capacity(total, work, total / work, per_region, per_class)
