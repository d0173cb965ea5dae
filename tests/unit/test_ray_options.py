"""The Ray engine's pure parts: its options, Ray's failure detection on the lab's clock, bad input in one line."""

from __future__ import annotations

import pytest

from analysis.bounds import ray_detection_bound
from core.errors import EngineError
from engines.ray.cluster import check_address, check_ray_version
from engines.ray.engine import ray_options_for
from engines.ray.options import RAY_DEFAULT_HEALTH, RayOptions, ray_health_for, region_resource
from results.stored import detection_bound
from tests.conftest import topology_for_tests


def test_ray_health_follows_the_topology_clock() -> None:
    lab = ray_health_for(topology_for_tests("decentralized"))  # health.interval_s 0.5 = LAN / 2
    assert (lab.period_ms, lab.timeout_ms, lab.failure_threshold) == (1500, 5000, 5)
    fast = ray_health_for(topology_for_tests("decentralized", health={"preset": "test", "interval_s": 0.25}))
    assert fast.period_ms == RAY_DEFAULT_HEALTH.period_ms // 4
    assert lab.system_config() == {"health_check_period_ms": 1500, "health_check_timeout_ms": 5000,
                                   "health_check_failure_threshold": 5, "health_check_initial_delay_ms": 2500}


def test_options_round_trip_and_record_what_the_run_needs() -> None:
    topo = topology_for_tests("decentralized", healing={"restarts": "engine"})
    options = ray_options_for(topo)
    assert RayOptions.from_arg(options.to_arg()) == options
    record = options.record()
    assert record["name"] == "ray" and record["restarts"] == "engine" and record["max_restarts"] == -1
    assert record["started_by_aftershock"] and record["health_check"]["period_ms"] == 1500
    attached = ray_options_for(topo, address="127.0.0.1:6379").record()
    assert attached["health_check"] is None and not attached["started_by_aftershock"]
    assert region_resource("eu-west") == "region:eu-west"


def test_the_bound_of_a_run_left_to_ray_is_rays() -> None:
    topo = topology_for_tests("decentralized", healing={"restarts": "engine"}).model_dump()
    record = ray_options_for(topology_for_tests("decentralized", healing={"restarts": "engine"})).record()
    bound = detection_bound(topo, record)
    assert bound is not None and bound.kind == "ray"
    assert bound == ray_detection_bound(1.5, 5, 5.0)
    assert bound.best_s == 0 and bound.expected_s == 6.75 and bound.worst_s == 12.5
    assert detection_bound(topo, {**record, "health_check": None}) is None  # unknown: no bound, not a wrong one
    assert detection_bound(topo, {"name": "lab"}).kind == "swim"  # the lab's own mechanism otherwise


@pytest.mark.parametrize("version", ["2.9.3", "1.13.0", "2.59.9"])
def test_a_ray_below_the_bound_is_refused_in_one_line(version: str) -> None:
    with pytest.raises(EngineError) as err:
        check_ray_version(version)
    assert "older than 2.60" in str(err.value) and "pip install" in str(err.value) and "\n" not in str(err.value)


def test_a_ray_at_or_above_the_bound_passes() -> None:
    assert check_ray_version("2.60.0") == "2.60.0" and check_ray_version("3.1.0rc1") == "3.1.0rc1"


@pytest.mark.parametrize("address", ["nonsense", "ray://127.0.0.1:10001", "127.0.0.1:0", "127.0.0.1:99999"])
def test_malformed_ray_addresses_are_refused_without_a_connection(address: str) -> None:
    with pytest.raises(EngineError) as err:
        check_address(address)
    assert "--ray-address" in str(err.value) and "\n" not in str(err.value)
