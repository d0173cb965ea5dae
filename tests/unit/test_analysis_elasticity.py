"""Elasticity arithmetic on synthetic runs with known answers: provisioned agent-seconds that follow the
autoscaler, the time to absorb a surge, and the summary's counts and sentence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.cost import run_cost
from analysis.elasticity import (
    P99_SLO_FACTOR,
    ScaleStep,
    elasticity_summary,
    provisioned_agent_seconds,
    scale_steps,
    time_to_absorb,
)
from presentation.frames import capacity_curves
from results.cost import over_time

T0 = 1000.0


def _requests(spans: list[tuple[float, float, str, float]], rate: float = 20.0) -> pd.DataFrame:
    """Requests at ``rate`` per second over each span (from, to, outcome, latency), seconds from T0."""
    rows = []
    for lo, hi, outcome, latency in spans:
        for ts in np.arange(T0 + lo, T0 + hi, 1 / rate):
            rows.append({"ts": float(ts), "end": float(ts) + latency, "outcome": outcome})
    return pd.DataFrame(rows)


def _events(rows: list[tuple[float, str, str, int]]) -> pd.DataFrame:
    return pd.DataFrame([{"ts": T0 + t, "kind": kind, "node": f"{region}-n9", "region": region, "agent": None,
                          "by": "us-east-hub", "detail": {"agents": agents, "nodes": [f"{region}-n9"]}}
                         for t, kind, region, agents in rows])


def test_provisioned_agent_seconds_follow_the_steps() -> None:
    steps = [ScaleStep(10, "a", +3), ScaleStep(20, "a", -3), ScaleStep(-5, "b", +3), ScaleStep(50, "b", +3)]
    # a: 6 x 10 + 9 x 10 + 6 x 10 = 210; b: a step before the window counts for all of it: 6 x 30 = 180
    assert provisioned_agent_seconds({"a": 6, "b": 3}, steps, 0, 30) == {"a": 210, "b": 180}
    # a region the topology did not have, grown into
    assert provisioned_agent_seconds({"a": 6}, [ScaleStep(25, "c", +2)], 0, 30) == {"a": 180, "c": 10}


def test_cost_counts_the_agents_the_autoscaler_added() -> None:
    ex = pd.DataFrame([{"task": "t", "agent": "a", "node": "n", "region": "a", "start": 0.0, "end": 30.0,
                        "session": "s", "session_write": 0}])
    reqs = pd.DataFrame({"ts": [1.0] * 10, "outcome": ["ok"] * 10})
    fixed = run_cost(ex, reqs, start=0, end=30, agents_per_region={"a": 6}, slots_per_agent=1)
    grown = run_cost(ex, reqs, start=0, end=30, agents_per_region={"a": 6}, slots_per_agent=1,
                     steps=[ScaleStep(10, "a", +3), ScaleStep(20, "a", -3)])
    assert fixed.provisioned_agent_s == 180 and grown.provisioned_agent_s == 210
    assert grown.utilisation == pytest.approx(30 / 210)


def test_time_to_absorb_waits_for_availability_and_p99_together() -> None:
    base = [(-10, 0, "ok", 0.1)]
    # failures for 5 s, then served but slow (p99 above 1.5x) for 3 s, then normal
    reqs = _requests(base + [(0, 5, "rejected", 0.01), (5, 8, "ok", 0.1 * P99_SLO_FACTOR * 2), (8, 40, "ok", 0.1)])
    absorbed, why = time_to_absorb(reqs, T0, T0 + 40, baseline=(T0 - 10, T0), sustain_s=10)
    assert absorbed == pytest.approx(8.0, abs=1.0) and why == ""
    calm, why = time_to_absorb(_requests(base + [(0, 40, "ok", 0.1)]), T0, T0 + 40, baseline=(T0 - 10, T0))
    assert calm == 0.0 and "never left" in why
    never, why = time_to_absorb(_requests(base + [(0, 40, "rejected", 0.01)]), T0, T0 + 40,
                                baseline=(T0 - 10, T0))
    assert never is None and "not back" in why


def test_the_summary_counts_steps_and_says_when() -> None:
    reqs = _requests([(-10, 0, "ok", 0.1), (0, 4, "rejected", 0.01), (4, 40, "ok", 0.1)])
    events = _events([(2.5, "scaled_up", "eu-west", 6), (30, "scaled_down", "eu-west", 3), (-3, "member_dead", "x", 0)])
    assert [s.delta for s in scale_steps(events)] == [6, -3]
    e = elasticity_summary(reqs, events, T0, (T0, T0 + 40), agents_start=12, policy=True,
                           baseline=(T0 - 10, T0), lift=T0 + 20, sustain_s=10)
    assert (e.scale_ups, e.scale_downs, e.agents_added, e.agents_removed) == (1, 1, 6, 3)
    assert (e.agents_start, e.agents_peak, e.agents_end) == (12, 18, 15)
    assert e.first_scale_up_s == pytest.approx(2.5) and e.absorbed_before_lift is True
    assert e.steps == [[2.5, 18], [30.0, 15]]
    assert "added 6 agents" in e.text and "absorbed in" in e.text and "while the fault was active" in e.text
    fixed = elasticity_summary(reqs, None, T0, (T0, T0 + 40), agents_start=12, policy=False,
                               baseline=(T0 - 10, T0))
    assert fixed.agents_added == 0 and "no autoscaling policy" in fixed.text


def test_the_capacity_curves_follow_the_steps_and_the_work() -> None:
    # 2 slots per agent; 4 slot-seconds of work in [0, 2) = 1 busy agent per second there
    ex = pd.DataFrame([{"start": 0.0, "end": 2.0}, {"start": 0.0, "end": 2.0}])
    series = over_time(ex, 0.0, 4.0, agents=6, slots_per_agent=2, steps=[ScaleStep(2.0, "a", +3)])
    assert series["t"] == [0.0, 1.0, 2.0, 3.0]
    assert series["provisioned_agents"] == [6, 6, 9, 9]
    assert series["busy_agents"] == [1.0, 1.0, 0.0, 0.0]
    curves = capacity_curves({"cost": [{"run_id": "r1", "topology": "mesh", "over_time": series},
                                       {"run_id": "r2", "topology": "hub", "cost": None}]})
    assert list(curves["run_id"].unique()) == ["r1"] and curves["provisioned_agents"].max() == 9
