"""Cost arithmetic on synthetic runs with known answers."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.cost import busy_slot_seconds, run_cost, utilisation_over_time


def _execs(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    return pd.DataFrame([{"task": f"t{i}", "agent": "a", "node": "n", "region": r, "start": s, "end": e,
                          "session": "s", "session_write": 0} for i, (r, s, e) in enumerate(rows)])


def _reqs(ok: int, errors: int, ts: float = 10.0) -> pd.DataFrame:
    return pd.DataFrame({"ts": [ts] * (ok + errors), "outcome": ["ok"] * ok + ["error"] * errors})


def test_a_run_with_known_busy_time_and_price() -> None:
    # 100 s window, 4 agents in a (2 slots each), 2 in b; a: 200 slot-s of work = 100 agent-s busy; b: 40 slot-s.
    ex = _execs([("a", 0, 100), ("a", 0, 100), ("b", 50, 90)])
    rep = run_cost(ex, _reqs(500, 20), start=0, end=100, agents_per_region={"a": 4, "b": 2}, slots_per_agent=2,
                   price_per_agent_hour=3.6, region_prices={"b": 7.2})
    assert rep.provisioned_agent_s == 600 and rep.busy_agent_s == pytest.approx(120)
    assert rep.utilisation == pytest.approx(0.2)
    assert rep.per_region["a"]["utilisation"] == pytest.approx(0.25)
    assert rep.per_region["b"]["busy_agent_s"] == pytest.approx(20)
    # cost: a 400 agent-s = 0.111 h x 3.6 = 0.4; b 200 agent-s x 7.2/h = 0.4
    assert rep.cost == pytest.approx(0.8)
    assert rep.ok_tasks == 500 and rep.cost_per_1000_ok == pytest.approx(1.6)


def test_work_straddling_the_window_counts_for_its_part_inside() -> None:
    ex = _execs([("a", -5, 5), ("a", 95, 105), ("a", 200, 210)])
    assert busy_slot_seconds(ex, 0, 100) == pytest.approx(10)


def test_cost_is_what_was_provisioned_not_what_was_used() -> None:
    idle = run_cost(_execs([("a", 0, 1)]), _reqs(10, 0), start=0, end=3600, agents_per_region={"a": 2},
                    slots_per_agent=1, price_per_agent_hour=1.0)
    busy = run_cost(_execs([("a", 0, 3600), ("a", 0, 3600)]), _reqs(10, 0), start=0, end=3600,
                    agents_per_region={"a": 2}, slots_per_agent=1, price_per_agent_hour=1.0)
    assert idle.cost == busy.cost == pytest.approx(2.0)
    assert busy.utilisation == pytest.approx(1.0) and idle.utilisation == pytest.approx(1 / 7200)


def test_no_successes_and_no_executions_are_unknown_not_zero() -> None:
    empty = _execs([]).reindex(columns=["region", "start", "end"])
    rep = run_cost(empty, _reqs(0, 5), start=0, end=10, agents_per_region={"a": 1}, slots_per_agent=1)
    assert rep.cost_per_1000_ok is None and rep.utilisation is None and rep.notes
    outside = run_cost(_execs([("a", 0, 1)]), _reqs(5, 0, ts=50), start=0, end=10, agents_per_region={"a": 1},
                       slots_per_agent=1)
    assert outside.ok_tasks == 0  # successes outside the window are not counted


def test_utilisation_over_time_per_bin() -> None:
    ex = _execs([("a", 0, 2), ("a", 1, 2), ("a", 3, 3.5)])
    frame = utilisation_over_time(ex, 0, 4, slots=2, bin_s=1.0)
    assert frame["t"].tolist() == [0, 1, 2, 3]
    assert frame["utilisation"].tolist() == pytest.approx([0.5, 1.0, 0.0, 0.25])
