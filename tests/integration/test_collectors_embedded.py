"""Embedded collector: unit tests of label handling, then real prometheus_client servers on port 0."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from collectors.base import Collector, MemorySink, SampleSink, Target, targets_from_status
from collectors.embedded import EmbeddedCollector, merge_labels, parse_exposition
from core.errors import CollectorError, UserError
from tests.support.collectors import MetricsTarget, metrics_targets, silent_server, wait_for

pytestmark = pytest.mark.timeout(30)

INTERVAL = 0.25
STATUS = {
    "name": "lab-1", "nodes": [
        {"name": "us-n1", "region": "us", "role": "agent", "metrics_url": "http://127.0.0.1:40001/metrics"},
        {"name": "us-hub", "region": "us", "role": "hub", "metrics_url": "http://127.0.0.1:40003/metrics"},
        {"name": "eu-n1", "region": "eu", "role": "agent", "metrics_url": None},
    ],
    "clients": {"pid": 1, "metrics_url": "http://127.0.0.1:40100/metrics"},
}


def test_targets_from_status_lists_nodes_and_clients() -> None:
    targets = targets_from_status(STATUS)
    assert [t.url for t in targets] == ["http://127.0.0.1:40001/metrics", "http://127.0.0.1:40003/metrics",
                                        "http://127.0.0.1:40100/metrics"]
    assert targets[1].labels == {"node": "us-hub", "region": "us", "role": "hub"}
    assert targets[2].labels == {"role": "clients"}
    assert targets[0].address == "127.0.0.1:40001"


def test_bad_target_url_is_a_user_error() -> None:
    with pytest.raises(UserError, match="bad scrape target URL"):
        Target("localhost:9090")


def test_merge_labels_target_wins_and_exported_prefix() -> None:
    merged = merge_labels({"node": "inner", "exported_node": "x", "le": "0.1", "empty": ""},
                          {"node": "n1", "job": "aftershock"})
    assert merged == {"node": "n1", "job": "aftershock", "exported_exported_node": "inner",
                      "exported_node": "x", "le": "0.1"}


def test_parse_exposition_keeps_names_as_exposed() -> None:
    text = ('# TYPE t counter\nt_total{a="1"} 3\n# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_count 2\n'
            'h_sum 0.5\n')
    rows = parse_exposition(text, {"job": "j"}, 12.5)
    assert [(r[1], dict(r[2]), r[3]) for r in rows] == [
        ("t_total", {"job": "j", "a": "1"}, 3.0), ("h_bucket", {"job": "j", "le": "+Inf"}, 2.0),
        ("h_count", {"job": "j"}, 2.0), ("h_sum", {"job": "j"}, 0.5)]
    assert all(r[0] == 12.5 for r in rows)


@pytest.mark.parametrize("interval, timeout", [(0.1, None), (0.0, None), (1.0, 2.0), (1.0, 0.0)])
def test_bad_interval_or_timeout_rejected(interval: float, timeout: float | None) -> None:
    with pytest.raises(CollectorError, match="interval|timeout"):
        EmbeddedCollector(MemorySink(), "r", interval_s=interval, timeout_s=timeout)


def test_default_timeout_is_capped() -> None:
    assert EmbeddedCollector(MemorySink(), "r", interval_s=5).timeout_s == 1.0
    assert EmbeddedCollector(MemorySink(), "r", interval_s=0.25).timeout_s == 0.25


def test_protocols_are_satisfied() -> None:
    sink = MemorySink()
    assert isinstance(sink, SampleSink)
    assert isinstance(EmbeddedCollector(sink, "r"), Collector)


@pytest.fixture
def targets() -> Iterator[list[MetricsTarget]]:
    with metrics_targets(3) as started:
        yield started


@pytest.fixture
def sink() -> MemorySink:
    return MemorySink()


@pytest.fixture
def collector_factory(sink: MemorySink) -> Iterator:
    made: list[EmbeddedCollector] = []

    def make(targets: list[Target], **kwargs: object) -> EmbeddedCollector:
        c = EmbeddedCollector(sink, "run-1", targets, interval_s=INTERVAL, **kwargs)  # type: ignore[arg-type]
        made.append(c)
        c.start()
        return c

    yield make
    for c in made:
        c.stop()


def _ups(sink: MemorySink, url_port: str) -> list[tuple[float, float]]:
    return [(ts, v) for ts, name, labels, v in sink.rows("run-1")
            if name == "up" and labels["instance"].endswith(url_port)]


def test_scrapes_every_target_with_target_labels(targets, sink, collector_factory) -> None:
    collector_factory([t.target for t in targets])
    for t in targets:
        port = t.target.address.rsplit(":", 1)[1]
        wait_for(lambda p=port: sum(v for _, v in _ups(sink, ":" + p)) >= 2, 10, f"two good scrapes of {port}")
    rows = sink.rows("run-1")
    for t in targets:
        mine = [r for r in rows if r[2]["instance"] == t.target.address]
        names = {r[1] for r in mine}
        assert {"aftershock_tasks_total", "aftershock_task_duration_seconds_bucket",
                "aftershock_task_duration_seconds_count", "aftershock_task_duration_seconds_sum",
                "up", "scrape_duration_seconds"} <= names
        for _, _, labels, _ in mine:
            assert labels["node"] == t.target.labels["node"]
            assert labels["region"] == t.target.labels["region"]
            assert labels["job"] == "aftershock"
        clash = [r for r in mine if r[1] == "aftershock_test_clash"]
        assert clash and clash[0][2]["exported_node"] == "inner"
        ok = [r for r in mine if r[1] == "aftershock_tasks_total" and r[2]["outcome"] == "ok"]
        assert ok[0][3] == 10 * (int(t.target.labels["node"][1:]) + 1)


def test_up_drops_to_zero_within_two_intervals(targets, sink, collector_factory) -> None:
    collector_factory([t.target for t in targets])
    victim = targets[0]
    port = ":" + victim.target.address.rsplit(":", 1)[1]
    wait_for(lambda: _ups(sink, port), 10, "a first scrape")
    killed_at = time.time()
    victim.close()
    down = wait_for(lambda: [ts for ts, v in _ups(sink, port) if v == 0 and ts >= killed_at], 10, "up == 0")
    assert down[0] - killed_at <= 2 * INTERVAL
    others = ":" + targets[1].target.address.rsplit(":", 1)[1]
    wait_for(lambda: any(v == 1 and ts > down[0] for ts, v in _ups(sink, others)), 5, "other targets still up")


def test_silent_target_times_out_without_stalling_others(targets, sink, collector_factory) -> None:
    with silent_server() as url:
        silent = Target(url + "/metrics", {"node": "silent"})
        c = collector_factory([targets[0].target, silent])
        port = ":" + targets[0].target.address.rsplit(":", 1)[1]
        wait_for(lambda: sum(v for _, v in _ups(sink, port)) >= 6, 10, "six good scrapes beside a silent target")
        silent_ups = [v for ts, name, labels, v in sink.rows("run-1")
                      if name == "up" and labels["node"] == "silent"]
        assert silent_ups and set(silent_ups) == {0.0}
        assert c.health()[silent.url].up is False
        t0 = time.monotonic()
        c.stop()
        assert time.monotonic() - t0 < c.timeout_s + 2.5


def test_targets_fn_picks_up_new_targets(targets, sink, collector_factory) -> None:
    current = [targets[0].target]
    collector_factory([], targets_fn=lambda: list(current))
    wait_for(lambda: sink.count("run-1") > 0, 10, "first scrape")
    current.append(targets[2].target)  # the lab spawned a replacement
    port = ":" + targets[2].target.address.rsplit(":", 1)[1]
    wait_for(lambda: any(v == 1 for _, v in _ups(sink, port)), 10, "the new target to be scraped")


def test_targets_fn_failure_keeps_previous_targets(targets, sink, collector_factory) -> None:
    calls = {"n": 0}

    def flaky() -> list[Target]:
        calls["n"] += 1
        if calls["n"] > 1:
            raise OSError("state.json vanished")
        return [targets[0].target]

    collector_factory([], targets_fn=flaky)
    wait_for(lambda: sum(v for _, v in _ups(sink, ":" + targets[0].target.address.rsplit(":", 1)[1])) >= 3,
             10, "scrapes to continue after targets_fn fails")


def test_stop_flushes_joins_threads_and_counts(targets, sink) -> None:
    c = EmbeddedCollector(sink, "run-1", [t.target for t in targets], interval_s=INTERVAL)
    with c:
        wait_for(lambda: c.stats.ticks >= 3, 10, "three ticks")
    stats = c.stats
    assert sink.flushes >= 1
    assert stats.scrapes >= 9 and stats.failures == 0
    assert stats.samples == sink.count("run-1")
    assert stats.cpu_s > 0 and stats.cpu_s_per_million_samples > 0
    leftovers = [t.name for t in threading.enumerate() if t.name.startswith("aftershock-")]
    assert leftovers == []
