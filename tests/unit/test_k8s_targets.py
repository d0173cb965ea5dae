"""Stored targets and label selectors: validation in one line, files written whole, the opt-in label
always added, Chaos Mesh selectors that mean the same as the Kubernetes ones."""

from __future__ import annotations

import pytest
import yaml

from core.errors import EngineError
from core.settings import Settings
from engines import load_target
from engines.kubernetes.chaosmesh import network_chaos
from engines.kubernetes.labels import matches, parse_selector, to_chaos_mesh, with_opt_in
from engines.kubernetes.ledger import alive, process_token
from engines.kubernetes.target import KubeTarget
from engines.targets import list_target_names, remove_target_files, target_path, write_target

BASE = {"name": "prod", "kube_context": "ctx", "namespace": "agents", "selector": "app=agent"}


@pytest.mark.parametrize("text,labels,expected", [
    ("app=agent", {"app": "agent"}, True),
    ("app==agent", {"app": "web"}, False),
    ("app!=agent", {}, True),
    ("tier in (a, b),app", {"tier": "b", "app": "x"}, True),
    ("tier notin (a,b)", {"tier": "a"}, False),
    ("!canary", {"canary": "1"}, False),
    ("example.com/role=hub", {"example.com/role": "hub"}, True),
    ("app=", {"app": ""}, True),  # an empty value is valid in Kubernetes
])
def test_selectors_match_as_kubernetes_does(text: str, labels: dict, expected: bool) -> None:
    assert matches(parse_selector(text), labels) is expected


@pytest.mark.parametrize("text", ["", "=x", "app in ()", "a b", "app=bad value", "!app=x", "-x=y",
                                  "app=" + "x" * 64])
def test_bad_selectors_are_one_line_errors(text: str) -> None:
    with pytest.raises(EngineError) as exc:
        parse_selector(text)
    assert "\n" not in str(exc.value)


def test_the_opt_in_label_is_always_required_and_cannot_be_negated_away() -> None:
    assert with_opt_in("app=agent") == "app=agent,aftershock.io/chaos=enabled"
    assert with_opt_in("app=agent,aftershock.io/chaos!=enabled") == "app=agent,aftershock.io/chaos=enabled"
    sel = to_chaos_mesh("app=agent,tier in (a,b),!canary")
    assert sel["labelSelectors"] == {"app": "agent", "aftershock.io/chaos": "enabled"}
    assert sel["expressionSelectors"] == [{"key": "tier", "operator": "In", "values": ["a", "b"]},
                                          {"key": "canary", "operator": "DoesNotExist"}]


def test_network_chaos_loss_and_partition_bodies() -> None:
    t = KubeTarget(**BASE)
    loss = network_chaos(t, run_id="r-1", src="z1", dst="z2", fault="loss", value=0.125, generation=3)
    assert loss["spec"]["loss"] == {"loss": "12.5"} and loss["metadata"]["name"].endswith("-3")
    cut = network_chaos(t, run_id="r-1", src="z1", dst="z2", fault="cut", value=1, generation=4)
    assert cut["spec"]["action"] == "partition" and "loss" not in cut["spec"] and "delay" not in cut["spec"]
    assert len(cut["metadata"]["name"]) <= 63


@pytest.mark.parametrize("change,message", [
    ({"name": "Prod!"}, "name: use 1-40 lowercase"),
    ({"namespace": "kube-system"}, "never a chaos target"),
    ({"namespace": "Agents"}, "is not a namespace name"),
    ({"selector": "app in (x"}, "cannot read"),
    ({"service_url": "agents:8080"}, "service_url must be an http(s) URL"),
    ({"queries": {"bad name": "up"}}, "is not a metric name"),
    ({"queries": {"q": "up{ns=\"$other\"}"}}, "only ${namespace}"),
    ({"request": {"body": {"t": "{nope}"}}}, "placeholders are"),
    ({"colour": "red"}, "unknown field"),
])
def test_bad_target_files_fail_in_one_line_naming_the_field(settings: Settings, change: dict,
                                                            message: str) -> None:
    path = target_path(settings, "prod")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({**BASE, **change}))
    with pytest.raises(EngineError, match="prod.yaml: ") as exc:
        load_target(settings, "prod")
    assert message in str(exc.value) and "\n" not in str(exc.value)


def test_store_list_and_remove(settings: Settings) -> None:
    with pytest.raises(EngineError, match="no target named 'prod'.*aftershock target add"):
        load_target(settings, "prod")
    write_target(settings, "prod", KubeTarget(**BASE).to_file())
    with pytest.raises(EngineError, match="already exists"):
        write_target(settings, "prod", KubeTarget(**BASE).to_file())
    assert list_target_names(settings) == ["prod"]
    assert load_target(settings, "prod").selector == "app=agent"
    assert [p.name for p in settings.home.joinpath("targets").iterdir()] == ["prod.yaml"]  # no temp file left
    assert [p.name for p in remove_target_files(settings, "prod")] == ["prod.yaml"]
    assert list_target_names(settings) == []
    with pytest.raises(EngineError, match="not valid"):
        target_path(settings, "../etc")


def test_a_process_token_tells_a_live_process_from_a_reused_pid() -> None:
    me = process_token()
    assert alive(me)
    assert not alive({**me, "pid_started": me["pid_started"] - 1000})
    assert not alive({"pid": 2**22 + 999, "pid_started": None}) and not alive(None)
