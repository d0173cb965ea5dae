"""The autoscaler's decision (``fleet.agents.autoscale``) on a virtual clock, and a graceful SWIM leave on the
in-memory mesh: a member that leaves is never suspected, declared dead or replaced."""

from __future__ import annotations

import asyncio
import random

import pytest

from core.errors import TopologyError
from fleet.agents.autoscale import Autoscaler, DemandMeter
from fleet.agents.memnet import run_virtual
from fleet.agents.swim import LEFT
from fleet.topology import Autoscale, load_topology, parse_topology
from tests.support.memlab import build_mesh

POLICY = Autoscale(min_agents=6, max_agents=30, target=0.6, scale_up_delay_s=3, scale_down_delay_s=10,
                   max_step_nodes=3)
PERIOD = 0.5


def _feed(scaler: Autoscaler, signal_at, until: float, agents: int = 12, start: float = 0.0):
    """Observations every PERIOD from ``start``; returns the first decision and its time (or None)."""
    t = start
    while t <= until:
        decision = scaler.observe(t, agents, signal_at(t))
        if decision is not None:
            return decision
        t = round(t + PERIOD, 6)
    return None


def test_the_recommendation_is_hpas_within_bounds_and_tolerance() -> None:
    scaler = Autoscaler(POLICY, agents_per_node=3)
    assert scaler.recommend(12, 0.6) == 12  # on target
    assert scaler.recommend(12, 0.65) == 12  # inside the 10 % tolerance band
    assert scaler.recommend(12, 1.2) == 24  # ceil(12 x 1.2 / 0.6)
    assert scaler.recommend(12, 3.0) == 30  # clamped to max_agents
    assert scaler.recommend(12, 0.0) == 6  # clamped to min_agents


def test_a_surge_scales_up_only_after_the_up_delay_and_by_at_most_the_step() -> None:
    surge_at = 5.0
    scaler = Autoscaler(POLICY, agents_per_node=3)
    decision = _feed(scaler, lambda t: 1.5 if t >= surge_at else 0.6, until=30)
    assert decision is not None and decision.nodes == 3  # asks 30 agents (+18 = 6 nodes), step caps at 3
    assert surge_at + POLICY.scale_up_delay_s <= decision.at <= surge_at + POLICY.scale_up_delay_s + PERIOD
    assert decision.from_agents == 12 and decision.to_agents == 30


def test_one_busy_observation_scales_nothing() -> None:
    scaler = Autoscaler(POLICY, agents_per_node=3)
    assert _feed(scaler, lambda t: 3.0 if 4.0 <= t < 4.6 else 0.6, until=30) is None


def test_a_quiet_spell_scales_down_after_the_down_delay_to_the_largest_recent_recommendation() -> None:
    quiet_at = 2.0
    scaler = Autoscaler(POLICY, agents_per_node=3)
    decision = _feed(scaler, lambda t: 0.2 if t >= quiet_at else 0.6, until=60)
    assert decision is not None and decision.nodes < 0
    # the window must hold only quiet observations: the decision comes once the busy ones aged out
    assert decision.at >= quiet_at + POLICY.scale_down_delay_s
    # ceil(12 x 0.2 / 0.6) = 4 agents, min 6: down to 6 (two nodes of three)
    assert decision.to_agents == 6 and decision.nodes == -2


def test_after_an_action_the_next_waits_a_full_window_and_the_quota_counts_whole_nodes() -> None:
    scaler = Autoscaler(POLICY, agents_per_node=3)
    first = _feed(scaler, lambda t: 2.0, until=30)
    assert first is not None
    assert scaler.observe(first.at + PERIOD, 21, 2.0) is None  # a new window begins after an action
    second = _feed(scaler, lambda t: 2.0, until=60, agents=28, start=first.at + 2 * PERIOD)
    assert second is None  # 28 of 30: no room for a whole node of three


def test_the_policy_is_validated_against_the_topology() -> None:
    data = load_topology("decentralized").model_dump()
    with pytest.raises(TopologyError, match="outside min_agents..max_agents"):
        parse_topology({**data, "autoscale": {"min_agents": 30, "max_agents": 40}})
    with pytest.raises(TopologyError, match="above max_agents"):
        parse_topology({**data, "autoscale": {"min_agents": 30, "max_agents": 20}})
    with pytest.raises(TopologyError, match="no room"):
        parse_topology({**data, "autoscale": {"min_agents": 27, "max_agents": 28}})
    ok = parse_topology({**data, "autoscale": {"min_agents": 18, "max_agents": 54}})
    assert ok.autoscale is not None and ok.autoscale.scale_down_delay_s == 30


async def _leave_trial(seed: int) -> tuple[dict[str, str], list, list]:
    mesh = build_mesh(seed)
    rng = random.Random(seed)
    mesh.start(rng)
    await asyncio.sleep(2.0)
    leaver = sorted(mesh.members)[4]
    told = await mesh.members[leaver].leave()
    await asyncio.sleep(0.5)
    mesh.net.kill(mesh.members[leaver].me.url)  # the process exits after its drain
    await asyncio.sleep(10.0)  # several suspicion timeouts of virtual time
    views = mesh.views(leaver)
    mesh.stop()
    assert told == len(mesh.members) - 1
    return views, mesh.events.of("member_left", leaver), mesh.events.of("member_dead", leaver)


@pytest.mark.parametrize("seed", range(5))
def test_a_member_that_leaves_is_never_suspected_nor_declared_dead(seed: int) -> None:
    views, left, dead = run_virtual(_leave_trial(seed))
    assert set(views.values()) == {LEFT}
    assert len(left) == len(views) and not dead


def test_shed_tasks_count_as_the_slots_they_would_have_taken() -> None:
    meter = DemandMeter(window_s=1.0, mean_task_s=0.1)
    for i in range(30):  # 30 shed in the last second, 0.1 s each: 3 slots' worth of turned-away demand
        meter.shed(10.0 + i / 30)
    assert meter.shed_slots(11.0) == pytest.approx(3.0)
    assert meter.shed_slots(12.5) == 0.0  # older than the window: forgotten
    for _ in range(200):
        meter.served(0.5)
    assert meter.mean_task_s == pytest.approx(0.5, rel=0.01)
