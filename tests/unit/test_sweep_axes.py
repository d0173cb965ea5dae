"""Scaled topologies (fleet/scaling.py), the size trend (analysis/growth.py), the headroom arithmetic
(analysis/headroom.py) and the summary blocks (results/axes.py) on synthetic data with known answers."""

from __future__ import annotations

import argparse

import pytest

from aftershock.cli_run import register
from analysis import RunMetrics
from analysis.growth import FALLS, FLAT, GROWS, NO_CHANGE, STRONGER, UNCLEAR, WEAKER, harm_by_size, size_trend
from analysis.headroom import capacity_point, slo_kept, smallest_capacity
from core.errors import UserError
from fleet.scaling import scale_step, scaled_capacity, scaled_to_agents, valid_sizes
from fleet.topology import Topology, load_topology
from presentation.axes import headroom_figure, headroom_points, headroom_rows, scale_figure, scale_points, scale_rows
from presentation.table import format_summary
from results.axes import headroom_block, scale_block


# ---- fleet/scaling.py ------------------------------------------------------------------------------
@pytest.mark.parametrize(("name", "n", "nodes"), [
    ("decentralized", 9, [1, 1, 1]), ("decentralized", 81, [9, 9, 9]), ("hybrid", 27, [3, 3, 3]),
    ("centralized", 9, [3, 0, 0]), ("centralized", 81, [27, 0, 0]),
])
def test_scaled_to_agents_keeps_regions_and_shape_and_scales_the_load(name: str, n: int, nodes: list[int]) -> None:
    base = load_topology(name)
    topo = scaled_to_agents(base, n)
    assert isinstance(topo, Topology) and topo.name == f"{name}.x{n}"
    assert [r.nodes for r in topo.regions] == nodes and topo.total_agents == n
    assert topo.region_names == base.region_names and topo.latency_ms == base.latency_ms
    assert topo.workload.tasks_per_s == pytest.approx(base.workload.tasks_per_s * n / base.total_agents, abs=1e-3)
    assert topo.workload.sessions == round(base.workload.sessions * n / base.total_agents)
    # same utilisation: the asked rate over the nominal capacity does not move
    assert topo.capacity().utilisation(topo.workload.tasks_per_s) == pytest.approx(
        base.capacity().utilisation(base.workload.tasks_per_s), rel=1e-3)


def test_uneven_regions_scale_proportionally_in_steps_of_their_gcd() -> None:
    base = Topology.model_validate({**load_topology("decentralized").model_dump(),
                                    "regions": [{"name": "us-east", "nodes": 4}, {"name": "eu-west", "nodes": 2},
                                                {"name": "ap-south", "nodes": 2}]})
    assert base.total_agents == 24 and scale_step(base) == 12  # gcd 2: halves are whole nodes
    assert [r.nodes for r in scaled_to_agents(base, 12).regions] == [2, 1, 1]
    assert [r.nodes for r in scaled_to_agents(base, 36).regions] == [6, 3, 3]
    with pytest.raises(UserError, match=r"steps of 12 agents.*try 12, 24, 36, 48"):
        scaled_to_agents(base, 18)


@pytest.mark.parametrize(("n", "message"), [
    (10, r"--scale 10 of decentralized: decentralized keeps its shape only in steps of 9 agents .*try 9, 18, 27, 36"),
    (3, r"steps of 9 agents"),  # below one node per region
    (0, r"positive number of agents"),
    (1809, r"us-east would need 201 nodes, above the 200"),
])
def test_sizes_that_do_not_fit_are_refused_in_one_line_with_sizes_that_would(n: int, message: str) -> None:
    with pytest.raises(UserError, match=message) as err:
        scaled_to_agents(load_topology("decentralized"), n)
    assert "\n" not in str(err.value)


def test_suggested_sizes_stay_within_the_nodes_a_region_may_have() -> None:
    assert valid_sizes(load_topology("centralized"), 2000) == [591, 594, 597, 600]  # 200 nodes x 3 agents
    assert valid_sizes(load_topology("decentralized"), 10) == [9, 18, 27, 36]


def test_scale_regions_copies_regions_with_their_share_and_latencies() -> None:
    base = load_topology("decentralized")
    topo = scaled_to_agents(base, 54, grow_regions=True)
    assert topo.name == "decentralized.x54r" and topo.total_agents == 54
    assert [(r.name, r.nodes) for r in topo.regions] == [
        ("us-east", 3), ("eu-west", 3), ("ap-south", 3), ("us-east-2", 3), ("eu-west-2", 3), ("ap-south-2", 3)]
    assert topo.workload.client_split["eu-west-2"] == base.workload.client_split["eu-west"]
    assert topo.link_latency_ms("us-east-2", "ap-south") == base.link_latency_ms("us-east", "ap-south") == 90
    assert topo.link_latency_ms("us-east-2", "eu-west-2") == 40
    assert topo.link_latency_ms("us-east", "us-east-2") == 40  # next door: the nearest pair's latency
    assert topo.workload.tasks_per_s == pytest.approx(80.0)
    shrunk = scaled_to_agents(base, 9, grow_regions=True)  # one region of nodes, the others client-only
    assert [(r.name, r.nodes) for r in shrunk.regions] == [("us-east", 3), ("eu-west", 0), ("ap-south", 0)]
    with pytest.raises(UserError, match=r"whole regions of 9 agents"):
        scaled_to_agents(base, 12, grow_regions=True)


def test_scaled_capacity_rounds_nodes_keeps_one_per_region_and_the_same_load() -> None:
    base = load_topology("decentralized")
    assert [r.nodes for r in scaled_capacity(base, 0.5).regions] == [2, 2, 2]  # 1.5 rounds half up
    assert [r.nodes for r in scaled_capacity(base, 0.1).regions] == [1, 1, 1]  # never below one node
    assert [r.nodes for r in scaled_capacity(base, 1.5).regions] == [5, 5, 5]
    hub = scaled_capacity(load_topology("centralized"), 0.5)
    assert [r.nodes for r in hub.regions] == [5, 0, 0] and hub.name == "centralized.cap0.5"
    assert hub.workload.tasks_per_s == 40.0
    with pytest.raises(UserError, match="above 0"):
        scaled_capacity(base, 0)


def test_a_utilisation_workload_is_resolved_once_and_dropped_from_the_copies() -> None:
    data = load_topology("decentralized").model_dump()
    data["workload"] = {**{k: v for k, v in data["workload"].items() if k != "tasks_per_s"}, "utilization": 0.5}
    base = Topology.model_validate(data)
    rate = base.workload.tasks_per_s
    doubled = scaled_capacity(base, 2)
    assert doubled.workload.utilization is None and doubled.workload.tasks_per_s == pytest.approx(rate)
    assert doubled.capacity().utilisation(doubled.workload.tasks_per_s) == pytest.approx(0.25, rel=1e-3)
    bigger = scaled_to_agents(base, 54)
    assert bigger.workload.utilization is None and bigger.workload.tasks_per_s == pytest.approx(2 * rate, abs=1e-3)


# ---- analysis/growth.py ------------------------------------------------------------------------------
def test_harm_falling_with_size_reads_stronger_and_one_run_per_size_asks_to_repeat() -> None:
    trend = size_trend("decentralized", [9, 27, 81], [0.30, 0.20, 0.10])
    assert trend.trend == FALLS and trend.answer == STRONGER and trend.confirmed is None
    assert trend.rise == pytest.approx(-0.20)
    assert "stronger as it scales" in trend.text and "repeat" in trend.text


def test_rising_harm_is_weaker_and_flat_harm_is_no_change() -> None:
    assert size_trend("c", [9, 81], [0.1, 0.3]).answer == WEAKER
    flat = size_trend("h", [9, 27, 81], [0.10, 0.11, 0.10])
    assert flat.trend == FLAT and flat.answer == NO_CHANGE
    assert size_trend("x", [9], [0.1]).answer == UNCLEAR
    assert size_trend("x", [9, 27], [0.1, None]).answer == UNCLEAR  # a partial run has no harm


def test_trend_with_intervals_is_confirmed_only_when_the_ends_do_not_overlap() -> None:
    apart = size_trend("m", [9, 9, 9, 81, 81, 81], [0.30, 0.31, 0.32, 0.10, 0.11, 0.12])
    assert apart.trend == FALLS and apart.confirmed is True and apart.answer == STRONGER
    assert apart.points[0].low == pytest.approx(0.30) and apart.points[0].high == pytest.approx(0.32)
    overlapping = size_trend("m", [9, 9, 9, 81, 81, 81], [0.05, 0.30, 0.31, 0.10, 0.11, 0.40])
    assert overlapping.trend == GROWS or overlapping.trend == FALLS
    assert overlapping.confirmed is False and overlapping.answer == NO_CHANGE


def test_harm_by_size_folds_repeats_to_medians() -> None:
    pts = harm_by_size([27, 9, 27, 9], [0.2, 0.1, 0.4, 0.3], min_repeats=3)
    assert [(p.size, p.runs, p.median, p.low) for p in pts] == [(9, 2, pytest.approx(0.2), None),
                                                                (27, 2, pytest.approx(0.3), None)]


# ---- analysis/headroom.py ------------------------------------------------------------------------------
def test_slo_kept_is_availability_during_the_fault_at_least_the_slo() -> None:
    assert slo_kept(0.999, 0.999) is True and slo_kept(0.9989, 0.999) is False and slo_kept(None, 0.999) is None
    point = capacity_point(1.0, 27, [1.0, 0.9985, None], 0.999, [400, 410, None])
    assert (point.runs, point.kept_runs, point.kept) == (2, 1, False)  # one breach breaks it
    assert point.availability_min == pytest.approx(0.9985) and point.requests == 810


def _points(kept: dict[float, float | None]) -> list:
    return [capacity_point(f, round(27 * f), [a], 0.999) for f, a in kept.items()]


def test_smallest_capacity_is_the_lowest_from_which_every_larger_kept_the_slo() -> None:
    head = smallest_capacity("hybrid", _points({0.5: 0.95, 0.75: 0.998, 1.0: 0.9995, 1.5: 1.0, 2.0: 1.0}),
                             slo=0.999, original_agents=27)
    assert head.min_factor == 1.0 and head.min_agents == 27 and head.min_multiple == pytest.approx(1.0)
    assert head.non_monotonic == () and "from 1x: 27 agents" in head.text


def test_a_lucky_low_point_is_not_the_answer_and_is_listed() -> None:
    head = smallest_capacity("mesh", _points({0.5: 0.9995, 0.75: 0.99, 1.0: 1.0, 2.0: 1.0}),
                             slo=0.999, original_agents=27)
    assert head.min_factor == 1.0 and head.non_monotonic == (0.5,) and "0.5x kept it too" in head.text


def test_none_kept_says_so_and_invents_no_capacity() -> None:
    head = smallest_capacity("centralized", _points({0.5: 0.5, 1.0: 0.9, 2.0: 0.998}), slo=0.999,
                             original_agents=27)
    assert head.min_factor is None and head.min_agents is None
    assert head.text == ("centralized: none of 0.5..2 kept the SLO (99.90 % availability during the fault); "
                         "the best was 99.80 % at 2x")
    unknown = smallest_capacity("x", _points({1.0: None}), slo=0.999, original_agents=27)
    assert unknown.min_factor is None and "cannot say" in unknown.text


def test_kept_below_a_larger_capacity_that_broke_it_gives_no_answer() -> None:
    head = smallest_capacity("mesh", _points({0.5: 0.99, 1.0: 1.0, 2.0: 0.995}), slo=0.999, original_agents=27)
    assert head.min_factor is None and head.non_monotonic == (1.0,)
    assert "largest tested capacity (2x) did not keep" in head.text and "1x kept it" in head.text


def test_the_multiple_is_in_provisioned_agents_after_rounding() -> None:
    pts = [capacity_point(0.5, 18, [1.0], 0.999), capacity_point(0.25, 9, [0.5], 0.999)]
    head = smallest_capacity("mesh", pts, slo=0.999, original_agents=27)
    assert head.min_factor == 0.5 and head.min_agents == 18 and head.min_multiple == pytest.approx(18 / 27)


# ---- results/axes.py and presentation/axes.py on synthetic RunMetrics ------------------------------------
def _run(run_id: str, topology: str, resilience: float, during: float, *, ttd: float = 1.0,
         members: int = 3) -> RunMetrics:
    metrics = {"resilience": resilience, "availability_during_fault": during, "ttd_s": ttd, "ttr_s": 2.0,
               "recovered": True, "blast_radius_regions": 0.0, "sessions_lost": 0}
    bounds = {"detection": {"kind": "swim", "best_s": 1.0, "expected_s": 1.5 + members / 100, "worst_s": 9.0,
                            "params": {"n_members": members}}}
    return RunMetrics(run_id=run_id, topology=topology, repeat=0, status="completed", source="request_log",
                      injected_at=0.0, request_log=None, metrics=metrics, bounds=bounds, params={"slo": 0.999},
                      recovery={"availability_during_fault": {"value": during, "n": 500.0}})


def _axis(name: str, value: float, base: str, agents: int, base_agents: int = 27) -> dict:
    return {"name": name, "value": value, "base_topology": base, "base_agents": base_agents, "agents": agents,
            "nodes": agents // 3, "regions": 3, "tasks_per_s": 40.0 * (agents / 27 if name == "scale" else 1)}


def test_scale_block_groups_by_base_topology_and_size_and_classifies() -> None:
    runs = [_run("a", "decentralized.x9", 70.0, 0.9, members=3), _run("b", "decentralized.x81", 90.0, 0.99,
                                                                       members=27),
            _run("c", "centralized.x9", 80.0, 0.9), _run("d", "centralized.x81", 60.0, 0.9)]
    axes = {"a": _axis("scale", 9, "decentralized", 9), "b": _axis("scale", 81, "decentralized", 81),
            "c": _axis("scale", 9, "centralized", 9), "d": _axis("scale", 81, "centralized", 81)}
    block = scale_block(runs, axes)
    assert [(p["topology"], p["size"], p["resilience"]["median"]) for p in block["points"]] == [
        ("centralized", 9, 80.0), ("centralized", 81, 60.0), ("decentralized", 9, 70.0), ("decentralized", 81, 90.0)]
    curves = {c["topology"]: c for c in block["curves"]}
    assert curves["decentralized"]["answer"] == STRONGER and curves["centralized"]["answer"] == WEAKER
    assert block["points"][3]["detection"] == {"kind": "swim", "expected_s": 1.77, "best_s": 1.0, "worst_s": 9.0,
                                               "n_members": 27}
    summary = {"scale": block, "summary": {}, "results": []}
    rows = scale_rows(summary)
    assert list(rows["agents"]) == [9, 81, 9, 81] and rows["harm"].iloc[0] == "0.200"
    assert rows["expected detection"].iloc[3] == "1.77 s (swim, n=27)"
    fig = scale_figure(scale_points(summary))
    assert [t.name for t in fig.data] == ["centralized", "decentralized"] and fig.layout.xaxis.type == "log"
    text = format_summary(summary)
    assert "stronger as it scales? decentralized: stronger as it scales" in text and "utilisation" in text


def test_headroom_block_finds_the_smallest_capacity_per_topology() -> None:
    runs = [_run("a", "hybrid.cap0.5", 50.0, 0.97), _run("b", "hybrid.cap1", 99.0, 0.9995),
            _run("c", "hybrid.cap2", 100.0, 1.0), _run("d", "centralized.cap2", 70.0, 0.95)]
    axes = {"a": _axis("capacity", 0.5, "hybrid", 18), "b": _axis("capacity", 1, "hybrid", 27),
            "c": _axis("capacity", 2, "hybrid", 54), "d": _axis("capacity", 2, "centralized", 54)}
    block = headroom_block(runs, axes)
    heads = {h["topology"]: h for h in block["topologies"]}
    assert heads["hybrid"]["min_factor"] == 1.0 and heads["hybrid"]["min_agents"] == 27
    assert heads["centralized"]["min_factor"] is None and heads["centralized"]["text"].startswith(
        "centralized: none of 2..2 kept")
    assert [p["kept"] for p in heads["hybrid"]["points"]] == [False, True, True]
    assert heads["hybrid"]["points"][1]["requests"] == 500.0
    summary = {"headroom": block, "summary": {}, "results": []}
    rows = headroom_rows(summary)
    assert list(rows["kept SLO"]) == ["NO", "NO", "yes", "yes"]
    assert list(rows["smallest that kept it"]) == ["", "", "<- smallest", ""]
    fig = headroom_figure(headroom_points(summary), 0.999)
    assert {t.name for t in fig.data if t.showlegend is not False} == {"centralized", "hybrid"}
    assert "what resilience costs: hybrid: kept the SLO" in format_summary(summary)


def test_the_sweep_command_takes_exactly_one_axis() -> None:
    parser = argparse.ArgumentParser(exit_on_error=False)
    register(parser.add_subparsers())
    assert parser.parse_args(["sweep", "node-loss", "--scale", "9", "27"]).scale == [9, 27]
    assert parser.parse_args(["sweep", "node-loss", "--capacity", "0.5", "2"]).capacity == [0.5, 2.0]
    for argv in (["sweep", "node-loss"], ["sweep", "node-loss", "--scale", "9", "--capacity", "1"],
                 ["sweep", "node-loss", "--capacity", "0"], ["sweep", "node-loss", "--scale", "2.5"]):
        with pytest.raises((SystemExit, argparse.ArgumentError)):
            parser.parse_args(argv)


def test_an_autoscaling_policy_scales_with_the_fleet_and_device_classes_are_refused() -> None:
    elastic = load_topology("decentralized-elastic")  # 27 agents, autoscaled 27..54
    big = scaled_to_agents(elastic, 81)
    assert big.autoscale is not None and (big.autoscale.min_agents, big.autoscale.max_agents) == (81, 162)
    half = scaled_capacity(elastic, 0.34)
    assert half.autoscale is not None and half.autoscale.min_agents <= half.total_agents <= half.autoscale.max_agents
    with pytest.raises(UserError, match="node classes"):
        scaled_to_agents(load_topology("edge-mesh"), 54)
    with pytest.raises(UserError, match="node classes"):
        scaled_capacity(load_topology("edge-mesh"), 2)
