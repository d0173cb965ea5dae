"""The typed child config: what crosses the process edge, and what never shows."""

from __future__ import annotations

import io

import pytest
from pydantic import SecretStr, ValidationError

from fleet.agents.__main__ import main
from fleet.agents.config import ChildConfig, ClientsSpec, Seed
from fleet.topology import load_topology


def _config(**updates) -> ChildConfig:
    topo = load_topology("decentralized")
    base = dict(
        role="node", name="us-east-n1", lab="mesh", kind="decentralized", topology=topo.name, region="us-east",
        seed=7, parent_pid=1, control_url="http://127.0.0.1:1", token=SecretStr("s3cret-token"),
        proxies={"us-east": "http://127.0.0.1:2"}, event_log="/tmp/events.jsonl", latency_ms={"us-east/eu-west": 40},
        agents=["us-east-n1-a1"], membership=topo.membership, health=topo.health,
        seeds=[Seed(name="eu-west-n1", region="eu-west", url="http://127.0.0.1:3")],
    )
    return ChildConfig(**{**base, **updates})


def test_the_wire_form_round_trips_with_the_token() -> None:
    config = _config(clients=ClientsSpec(workload=load_topology("decentralized").workload,
                                         client_shares={"us-east": 1.0}, request_log="/tmp/r.csv"))
    again = ChildConfig.from_json(config.to_json())
    assert again == config
    assert again.token.get_secret_value() == "s3cret-token"
    assert again.membership.probe_period_s == config.membership.probe_period_s


def test_the_token_never_shows_in_a_repr_or_a_python_dump() -> None:
    config = _config()
    assert "s3cret-token" not in repr(config)
    assert "s3cret-token" not in str(config.model_dump())
    assert config.bearer == {"Authorization": "Bearer s3cret-token"}


def test_latency_applies_both_ways_unless_given() -> None:
    config = _config(latency_ms={"us-east/eu-west": 40.0, "eu-west/ap-south": 90.0, "ap-south/eu-west": 70.0})
    assert config.latency("eu-west", "us-east") == 40.0
    assert config.latency("eu-west", "ap-south") == 90.0
    assert config.latency("ap-south", "eu-west") == 70.0
    assert config.latency("us-east", "us-east") == 0.0


def test_an_unknown_field_is_refused() -> None:
    with pytest.raises(ValidationError):
        ChildConfig.model_validate_json(_config().to_json().replace('"lab":', '"labb":'))


def test_a_child_reads_its_config_from_stdin_and_checks_who_it_was_started_as() -> None:
    wire = io.BytesIO(_config().to_json().encode())
    with pytest.raises(SystemExit, match="started as hub us-east-n1 with the config of node us-east-n1"):
        main(["hub", "us-east-n1"], stdin=wire)
    with pytest.raises(SystemExit, match="usage"):
        main(["node", "us-east-n1", _config().to_json()], stdin=io.BytesIO(b""))
