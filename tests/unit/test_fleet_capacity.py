"""Capacity: task slots over the capped mean work time; ``utilization`` resolves to a rate on load."""

from __future__ import annotations

import math
import random

import pytest
import yaml

from core.errors import TopologyError
from fleet.agents.loadgen import draw_work_ms
from fleet.capacity import mean_work_s
from fleet.topology import BUILTIN_DIR, WorkTime, load_topology, parse_topology


@pytest.mark.parametrize("spec", [
    WorkTime(distribution="lognormal", median_ms=80, sigma=0.5, max_ms=1000),
    WorkTime(distribution="lognormal", median_ms=80, sigma=1.5, max_ms=200),
    WorkTime(distribution="exponential", median_ms=50, max_ms=100),
    WorkTime(distribution="uniform", median_ms=50, max_ms=70),
    WorkTime(distribution="constant", median_ms=50, max_ms=30),
])
def test_mean_work_time_matches_what_the_load_generator_draws(spec: WorkTime) -> None:
    rng = random.Random(1)
    sample = [draw_work_ms(rng, spec) for _ in range(100_000)]
    want = mean_work_s(spec.distribution, spec.median_ms, spec.sigma, spec.max_ms) * 1000
    assert sum(sample) / len(sample) == pytest.approx(want, rel=0.01)


def test_closed_forms() -> None:
    assert mean_work_s("exponential", 100, 0, 1e9) == pytest.approx(0.1 / math.log(2))
    assert mean_work_s("lognormal", 80, 0.5, 1e9) == pytest.approx(0.08 * math.exp(0.125))
    assert mean_work_s("uniform", 50, 0, 100) == pytest.approx(0.05)


def test_builtin_capacity_and_a_region_lost() -> None:
    cap = load_topology("decentralized").capacity()
    assert cap.slots == 9 * 3 * 2
    assert cap.tasks_per_s == pytest.approx(54 / mean_work_s("lognormal", 80, 0.5, 1000))
    assert cap.without("us-east") == pytest.approx(cap.tasks_per_s * 2 / 3)
    assert cap.utilisation(40) == pytest.approx(40 / cap.tasks_per_s)


def _raw() -> dict:
    return yaml.safe_load((BUILTIN_DIR / "decentralized.yaml").read_text())


def test_utilization_resolves_to_a_share_of_capacity_and_reloads_unchanged() -> None:
    data = _raw()
    del data["workload"]["tasks_per_s"]
    data["workload"]["utilization"] = 0.7
    topo = parse_topology(data)
    assert topo.workload.tasks_per_s == pytest.approx(0.7 * topo.capacity().tasks_per_s, abs=1e-3)
    again = parse_topology(topo.model_dump(mode="json"))
    assert again.workload.tasks_per_s == topo.workload.tasks_per_s


def test_rate_and_utilization_together_are_refused_in_one_line() -> None:
    data = _raw()
    data["workload"]["utilization"] = 0.7
    with pytest.raises(TopologyError, match="either tasks_per_s or utilization") as err:
        parse_topology(data, "t.yaml")
    assert "\n" not in str(err.value)


def test_a_shape_is_part_of_the_workload() -> None:
    data = _raw()
    data["workload"]["shape"] = {"kind": "surge", "factor": 2, "start_s": 5, "duration_s": 5}
    assert parse_topology(data).workload.shape.kind == "surge"
    data["workload"]["shape"] = {"kind": "surge", "factr": 2}
    with pytest.raises(TopologyError, match="workload.shape"):
        parse_topology(data, "t.yaml")
