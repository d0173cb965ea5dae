"""Prometheus collector: escaping, chunking and error paths against local fake servers, then a real
Prometheus (started by the test) scraping real targets, compared with the embedded collector."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from collectors.base import MemorySink, Target
from collectors.embedded import EmbeddedCollector
from collectors.prometheus import PrometheusCollector, PrometheusSource, escape_label_value, materialise, selector
from collectors.promserver import PrometheusServer
from core.errors import CollectorError, UserError
from tests.support.collectors import (
    HOSTILE,
    FakePrometheus,
    closed_port,
    fake_prometheus,
    matrix_body,
    metrics_targets,
    require_prometheus,
    silent_server,
    wait_for,
)

pytestmark = pytest.mark.timeout(60)

LAB = "lab-test"
PROM_ONLY = {"scrape_samples_scraped", "scrape_samples_post_metric_relabeling", "scrape_series_added"}


# -- escaping --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("raw, escaped", [
    ("plain", "plain"),
    ('say "hi"', 'say \\"hi\\"'),
    ("back\\slash", "back\\\\slash"),
    ("two\nlines\r\t", "two\\nlines\\r\\t"),
    ("{braces}=,'", "{braces}=,'"),
    ("bell\x07del\x7f", "bell\\x07del\\x7f"),
    ("ünï", "ünï"),
])
def test_escape_label_value(raw: str, escaped: str) -> None:
    assert escape_label_value(raw) == escaped


def test_selector_builds_and_validates() -> None:
    assert selector("up", {"job": 'a"b'}) == 'up{job="a\\"b"}'
    assert selector(None, {"aftershock_lab": "x"}) == '{aftershock_lab="x"}'
    assert selector("up") == "up"
    for metric, labels in [("bad-name", {}), ("up", {"bad-label": "x"}), (None, {})]:
        with pytest.raises(CollectorError):
            selector(metric, labels)
    with pytest.raises(CollectorError, match="surrogate"):
        escape_label_value("\ud800")


# -- fake servers ----------------------------------------------------------------------------------------

@pytest.fixture
def fake() -> Iterator[FakePrometheus]:
    with fake_prometheus() as server:
        yield server


def _ok(query: dict[str, list[str]]) -> tuple[int, str, str]:
    return 200, "application/json", matrix_body(query)


def test_long_range_is_chunked(fake: FakePrometheus) -> None:
    fake.default = _ok
    source = PrometheusSource(fake.url, timeout_s=5)
    start = 1_700_000_000.0
    df = source.query_range("m", start, start + 24_999, 1.0)  # 25,000 points -> 11,000 + 11,000 + 3,000
    calls = [q for path, q in fake.requests if path == "/api/v1/query_range"]
    assert len(calls) == 3
    bounds = [(float(q["start"][0]), float(q["end"][0])) for q in calls]
    assert bounds == [(start, start + 10_999), (start + 11_000, start + 21_999), (start + 22_000, start + 24_999)]
    assert len(df) == 25_000 and df["ts"].is_monotonic_increasing and df["ts"].is_unique
    assert set(df.columns) == {"ts", "metric", "value", "job"}


def test_short_range_is_one_call_with_exact_times(fake: FakePrometheus) -> None:
    fake.default = _ok
    PrometheusSource(fake.url, timeout_s=5).query_range("m", 100.25, 110.75, 0.25)
    (_, q), = fake.requests
    assert (q["start"], q["end"], q["step"]) == (["100.250"], ["110.750"], ["0.25"])


def test_5xx_is_retried_then_succeeds(fake: FakePrometheus) -> None:
    fake.script = [lambda q: (503, "text/plain", "overloaded"), lambda q: (500, "text/plain", "oops")]
    fake.default = _ok
    sleeps: list[float] = []
    df = PrometheusSource(fake.url, timeout_s=5, backoff_s=0.5, sleep=sleeps.append).query_range("m", 0, 9, 1)
    assert len(df) == 10 and len(fake.requests) == 3 and sleeps == [0.5, 1.0]


def test_persistent_5xx_gives_up(fake: FakePrometheus) -> None:
    fake.default = lambda q: (502, "text/plain", "bad gateway")
    with pytest.raises(CollectorError, match="HTTP 502"):
        PrometheusSource(fake.url, timeout_s=5, retries=2, sleep=lambda s: None).query_range("m", 0, 9, 1)
    assert len(fake.requests) == 3


@pytest.mark.parametrize("status, ctype, body, match", [
    (200, "text/html", "<html><body>login</body></html>", "not JSON"),
    (200, "application/json", '{"status": "success", "data": {"result": "nope"}}', "unexpected shape"),
    (200, "application/json", '{"status": "success"}', "unexpected shape"),
    (200, "application/json", '{"data": {"result": [{"metric": {}}]}}', "unexpected shape"),
    (400, "application/json", '{"status":"error","errorType":"bad_data","error":"parse error at char 3"}',
     "HTTP 400.*parse error at char 3"),
])
def test_garbage_answers_are_clear_errors(fake: FakePrometheus, status, ctype, body, match) -> None:
    fake.default = lambda q: (status, ctype, body)
    with pytest.raises(CollectorError, match=match) as info:
        PrometheusSource(fake.url, timeout_s=5).query_range("m", 0, 9, 1)
    assert "\n" not in str(info.value) and isinstance(info.value, UserError)


def test_unreachable_server_fails_fast() -> None:
    with closed_port() as url:
        t0 = time.monotonic()
        with pytest.raises(CollectorError, match="cannot reach Prometheus at .*: connection refused; start it or pass "
                                                 "--prometheus-url"):
            PrometheusSource(url, timeout_s=5).query_range("up", 0, 10, 1)
        assert time.monotonic() - t0 < 2


def test_silent_server_times_out() -> None:
    with silent_server() as url:
        t0 = time.monotonic()
        with pytest.raises(CollectorError, match="did not answer .* within 0.5 s"):
            PrometheusSource(url, timeout_s=0.5).metric_names(["up"], 0, 10)
        assert time.monotonic() - t0 < 3


def test_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CollectorError, match="not found on PATH; install it with `apt-get install prometheus`"):
        PrometheusServer(tmp_path, binary="aftershock-no-such-prometheus").start()


def test_write_targets_is_atomic_json(tmp_path: Path) -> None:
    server = PrometheusServer(tmp_path)
    path = server.write_targets(LAB, [Target("http://127.0.0.1:9/m", {"node": "n1", "region": ""})])
    assert json.loads(path.read_text()) == [{"targets": ["127.0.0.1:9"], "labels": {
        "node": "n1", "aftershock_lab": LAB, "__metrics_path__": "/m"}}]
    assert [p.name for p in (tmp_path / "sd").iterdir()] == [f"{LAB}.json"]
    with pytest.raises(CollectorError, match="invalid lab name"):
        server.write_targets("../evil", [])


# -- a real Prometheus -----------------------------------------------------------------------------------

class Lab:
    """A real Prometheus and the embedded collector scraping the same three targets."""
    def __init__(self, server: PrometheusServer, embedded: MemorySink, window: tuple[float, float],
                 targets: list[Target]) -> None:
        self.server, self.embedded, self.window, self.targets = server, embedded, window, targets


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    require_prometheus()
    with metrics_targets(3) as started:
        targets = [t.target for t in started]
        server = PrometheusServer(tmp_path_factory.mktemp("prom"), scrape_interval_s=1.0)
        server.write_targets(LAB, targets)  # before start: discovered at start-up
        sink = MemorySink()
        with server:
            source = server.source(timeout_s=5)
            with EmbeddedCollector(sink, "emb", targets, interval_s=1.0):
                t0 = time.time()

                def enough() -> bool:
                    df = source.query_range(selector("up", {"aftershock_lab": LAB}), t0, time.time(), 1.0)
                    return len(df) > 0 and df["instance"].nunique() == 3 \
                        and df.groupby("instance")["value"].sum().min() >= 4

                wait_for(enough, 30, "Prometheus to scrape every target four times", poll=0.5)
                window = (t0, time.time())
            yield Lab(server, sink, window, targets)


def _prom_source(lab: Lab) -> PrometheusSource:
    return lab.server.source(timeout_s=5)


@pytest.mark.prometheus
def test_hostile_label_value_matches_exactly(lab: Lab) -> None:
    source = _prom_source(lab)
    query = selector("aftershock_test_hostile", {"v": HOSTILE, "aftershock_lab": LAB})
    df = source.query_range(query, *lab.window, 1.0)
    assert not df.empty and set(df["v"]) == {HOSTILE} and df["instance"].nunique() == 3
    near = selector("aftershock_test_hostile", {"v": HOSTILE[:-1]})
    assert source.query_range(near, *lab.window, 1.0).empty


@pytest.mark.prometheus
def test_materialise_matches_embedded_collector(lab: Lab) -> None:
    source = _prom_source(lab)
    sink = MemorySink()
    start, end = lab.window
    n = materialise(source, sink, "prom", start=start, end=end, step=1.0, matchers={"aftershock_lab": LAB})
    prom = [(ts, m, {k: v for k, v in labels.items() if k != "aftershock_lab"}, v)
            for ts, m, labels, v in sink.rows("prom") if m not in PROM_ONLY]
    assert n == len(sink.rows("prom")) and sink.flushes == 1
    assert all("__name__" not in labels for _, _, labels, _ in prom)
    emb = [r for r in lab.embedded.rows("emb") if start <= r[0] <= end]

    def series(rows: list) -> set:
        return {(m, tuple(sorted(labels.items()))) for _, m, labels, _ in rows}

    assert series(prom) == series(emb)
    # static counters agree exactly; the wall-clock gauge within one scrape interval (plus jitter)
    last_emb = {(m, tuple(sorted(lb.items()))): v for _, m, lb, v in sorted(emb, key=lambda r: r[0])}
    for ts, m, labels, v in prom:
        key = (m, tuple(sorted(labels.items())))
        if m == "aftershock_tasks_total":
            assert v == last_emb[key]
        if m == "aftershock_test_clock_seconds":
            before = [ev for ets, em, el, ev in emb if em == m and el == labels and ets <= ts + 0.05]
            if before:
                assert abs(v - before[-1]) <= 1.5, (ts, v, before[-1])
                assert v <= ts + 0.05


@pytest.mark.prometheus
def test_collector_protocol_over_prometheus(lab: Lab) -> None:
    source = _prom_source(lab)
    start, end = lab.window
    clock = iter([start, end])
    sink = MemorySink()
    with PrometheusCollector(source, sink, "run", matchers={"aftershock_lab": LAB}, clock=lambda: next(clock)) as c:
        pass
    assert c.samples_written == sink.count("run") > 0
    assert {m for _, m, _, _ in sink.rows("run")} >= {"up", "aftershock_tasks_total"}


@pytest.mark.prometheus
def test_materialise_requires_a_selector(lab: Lab) -> None:
    with pytest.raises(CollectorError, match="at least one selector"):
        materialise(_prom_source(lab), MemorySink(), "r", start=0, end=1)


def test_require_prometheus_fails_instead_of_skipping_when_required(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("AFTERSHOCK_REQUIRE_PROMETHEUS", "1")
    with pytest.raises(pytest.fail.Exception, match="AFTERSHOCK_REQUIRE_PROMETHEUS=1"):
        require_prometheus()
    monkeypatch.delenv("AFTERSHOCK_REQUIRE_PROMETHEUS")
    with pytest.raises(pytest.skip.Exception):
        require_prometheus()
