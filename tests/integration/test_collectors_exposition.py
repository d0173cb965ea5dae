"""The fast exposition parser against prometheus_client's own: generated families, real registries, fallbacks."""

from __future__ import annotations

import contextlib
import math
import socket
import string
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram, Info, Summary, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    SummaryMetricFamily,
    UnknownMetricFamily,
)
from prometheus_client.openmetrics.exposition import ALLOWUTF8

from collectors import exposition
from collectors.base import MemorySink, Target
from collectors.embedded import EmbeddedCollector, parse_exposition
from collectors.exposition import RawSample, fast_samples, parse_samples, reference_samples
from tests.support.collectors import HOSTILE, node_registry

pytestmark = pytest.mark.timeout(120)


def same_value(a: float, b: float) -> bool:
    """Equal, NaN equal to NaN, and the sign of zero counts."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def assert_same(got: list[RawSample], want: list[RawSample]) -> None:
    assert [(n, labels) for n, labels, _ in got] == [(n, labels) for n, labels, _ in want]
    for (name, _, a), (_, _, b) in zip(got, want, strict=True):
        assert same_value(a, b), (name, a, b)


def assert_fast_matches_reference(text: str) -> list[RawSample]:
    """The fast path takes ``text`` and agrees with the reference."""
    fast = fast_samples(text)
    assert fast is not None, "expected the fast path to accept this payload"
    assert_same(fast, reference_samples(text))
    return fast


class StaticCollector:
    """A collector that returns fixed families, so hypothesis controls every name, label and value."""

    def __init__(self, families: list) -> None:
        self.families = families

    def collect(self) -> Iterator:
        return iter(self.families)


# -- generated families --------------------------------------------------------------------------------

metric_names = st.from_regex(r"[a-zA-Z_:][a-zA-Z0-9_:]{0,20}", fullmatch=True)
label_names = st.from_regex(r"[a-zA-Z][a-zA-Z0-9_]{0,10}", fullmatch=True)
hostile_values = st.one_of(
    st.text(alphabet=st.sampled_from(list('"\\\n{},= \'\tab#') + ["é", "日", "\u2028", "\x85", "\r"]), max_size=12),
    st.text(max_size=12),  # any unicode (surrogates excluded by hypothesis' default)
    st.sampled_from(["", HOSTILE, "\\", '"', "\\n", "\\\\n", "}", "a,b=c", 'x="y"', " 1 2"]),
)
values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**20), 10**20).map(float),
    st.sampled_from([0.0, -0.0, 1e308, 5e-324, math.inf, -math.inf, math.nan]),
)


@st.composite
def families(draw: st.DrawFn) -> list:
    names = draw(st.lists(metric_names, min_size=1, max_size=5, unique_by=lambda n: n.removesuffix("_total")))
    out = []
    for name in names:
        kind = draw(st.sampled_from(["counter", "gauge", "untyped", "histogram", "summary"]))
        labelnames = draw(st.lists(label_names.filter(lambda n: n not in ("le", "quantile")), max_size=3, unique=True))
        label_sets = draw(st.lists(st.tuples(*[hostile_values] * len(labelnames)), min_size=1, max_size=3))
        if kind == "counter":
            fam = CounterMetricFamily(name, "doc \\ \n x", labels=labelnames)
            for ls in label_sets:
                fam.add_metric(list(ls), abs(draw(values)) if draw(st.booleans()) else draw(values))
        elif kind == "gauge":
            fam = GaugeMetricFamily(name, "", labels=labelnames)
            for ls in label_sets:
                stamp = draw(st.none() | st.integers(0, 2**41).map(lambda ms: ms / 1000))
                fam.add_metric(list(ls), draw(values), timestamp=stamp)
        elif kind == "untyped":
            fam = UnknownMetricFamily(name, "untyped", labels=labelnames)
            for ls in label_sets:
                fam.add_metric(list(ls), draw(values))
        elif kind == "histogram":
            fam = HistogramMetricFamily(name, "h", labels=labelnames)
            bounds = sorted(set(draw(st.lists(st.floats(-1e6, 1e6), max_size=4))))
            for ls in label_sets:
                buckets = [(repr(b), float(i)) for i, b in enumerate(bounds)] + [("+Inf", float(len(bounds)))]
                fam.add_metric(list(ls), buckets, sum_value=draw(values))
        else:
            fam = SummaryMetricFamily(name, "s", labels=labelnames)
            for ls in label_sets:
                fam.add_metric(list(ls), count_value=draw(st.integers(0, 10**6)), sum_value=draw(values))
        out.append(fam)
    return out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(families())
def test_generated_families_parse_like_prometheus_client(fams: list) -> None:
    registry = CollectorRegistry()
    registry.register(StaticCollector(fams))
    text = generate_latest(registry).decode("utf-8")
    assert_fast_matches_reference(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(hostile_values, values), min_size=1, max_size=5))
def test_hostile_label_values_round_trip(pairs: list[tuple[str, float]]) -> None:
    registry = CollectorRegistry()
    gauge = Gauge("g", "hostile", ["v"], registry=registry)
    for v, x in pairs:
        gauge.labels(v).set(x)
    got = assert_fast_matches_reference(generate_latest(registry).decode("utf-8"))
    assert {labels["v"]: x for _, labels, x in got}.keys() == {v for v, _ in pairs}


# -- real registries -----------------------------------------------------------------------------------


def full_registry() -> CollectorRegistry:
    """Every instrument prometheus_client has, with labels and a few observations."""
    registry = CollectorRegistry()
    c = Counter("jobs", "jobs done", ["outcome"], registry=registry)
    c.labels("ok").inc(3)
    c.labels('we"ird\\').inc()
    Counter("bytes_total", "already suffixed", registry=registry).inc(2.5)
    g = Gauge("temperature_celsius", "temp", ["room"], registry=registry)
    g.labels("kitchen").set(-3.25)
    g.labels("lab").set(float("nan"))
    Gauge("free", "inf", registry=registry).set(float("inf"))
    h = Histogram("latency_seconds", "latency", ["path"], buckets=(0.1, 1, 10), registry=registry)
    for v in (0.05, 0.5, 5, 50):
        h.labels("/a\nb").observe(v)
    s = Summary("payload_bytes", "payload", registry=registry)
    for v in (1, 2, 3):
        s.observe(v)
    Info("build", "build info", registry=registry).info({"version": "1.2.3", "commit": "a,b}"})
    e = Enum("state", "state", states=["starting", "running", "stopped"], registry=registry)
    e.state("running")
    return registry


@pytest.mark.parametrize("make", [full_registry, lambda: node_registry(0), lambda: node_registry(7)])
def test_real_registries_parse_like_prometheus_client(make) -> None:
    text = generate_latest(make()).decode("utf-8")
    got = assert_fast_matches_reference(text)
    names = {n for n, _, _ in got}
    assert {"jobs_total", "jobs_created", "bytes_total", "latency_seconds_bucket", "latency_seconds_count",
            "payload_bytes_sum", "build_info", "state"} <= names or "aftershock_tasks_total" in names


def test_parse_exposition_adds_target_labels_from_fast_path() -> None:
    text = '# TYPE h histogram\nh_bucket{le="+Inf",node="inner"} 2\nh_count 2\n'
    rows = parse_exposition(text, {"job": "j", "node": "n1"}, 5.0)
    assert rows == [(5.0, "h_bucket", {"job": "j", "node": "n1", "le": "+Inf", "exported_node": "inner"}, 2.0),
                    (5.0, "h_count", {"job": "j", "node": "n1"}, 2.0)]


# -- hand-written shapes: the reference's quirks the fast path reproduces ----------------------------------


@pytest.mark.parametrize("text", [
    "# TYPE c counter\nc 1\nc{a=\"x\"} 2\n",                   # counter without _total: renamed c_total
    "# HELP c doc\nc 1\n# TYPE c counter\nc 2\n",            # the rename also applies to samples before TYPE
    "# TYPE c counter\nc_created 1\nc 2\n",                  # c_created ends the family, c is untyped
    "# TYPE s summary\ns{quantile=\"0.5\"} 1\ns_sum 2\ns_count 3\ns_created 4\n",
    "a 1 1700000000000\nb{x=\"1\"} -0 -5\nc +Inf\nd -Inf\ne NaN\nf 1e3\ng .5\nh 7.\n",
    'x{a="1",} 1\ny{} 2\nz{a="\\t\\\\n\\"\\n"} 3\n',                 # trailing comma, {}, unknown escape kept
    "  \n# just a comment\n\n   m 1   \n\t# TYPE m gauge\n",
    "m{a=\"1\"}5\n",                                           # no space before the value
    "# TYPE i info\ni_info 1\n# TYPE u untyped\nu 1\n# TYPE q unknown\nq 1\n",
    "v 0001\nw -00\n",
    "m " + "9" * 310 + ".0\n",                                # a long float literal overflows to +Inf in both
])
def test_quirks_match_reference(text: str) -> None:
    assert_fast_matches_reference(text)


def test_counter_without_total_is_renamed_like_the_reference() -> None:
    assert [n for n, _, _ in parse_samples("# TYPE c counter\nc 1\n")] == ["c_total"]


# -- inputs that force the fallback ---------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    '{__name__="m",a="1"} 1\n',                  # the name among the labels
    "m 1 2 3\n",                                 # several values: the reference takes the first and last
    "m\t1\n",                                    # tab separator
    "m infinity\n",                              # a spelling float() accepts
    "m 1.5 1700000000000.5\n",                   # a fractional timestamp
    'm {a="1"} 1\n',                             # space before the labels
    "#\tHELP m doc\nm 1\n",                      # HELP after a tab is still HELP to the reference
    "# HELP\n",                                  # HELP without a name
    "m{a=\"1\"} 1 # {trace=\"x\"} 1\n",          # an exemplar
])
def test_unusual_lines_fall_back_to_the_reference(text: str) -> None:
    assert fast_samples(text) is None
    assert_same(parse_samples(text), reference_samples(text))


def test_utf8_names_fall_back_and_still_parse() -> None:
    registry = CollectorRegistry()
    Gauge("my.metric", "utf-8 name", ["kind.of"], registry=registry).labels("x").set(1)
    text = generate_latest(registry, escaping=ALLOWUTF8).decode("utf-8")
    assert fast_samples(text) is None
    assert parse_samples(text) == [("my.metric", {"kind.of": "x"}, 1.0)]


@pytest.mark.parametrize("text", [
    'm{a="1",a="2"} 1\n',                        # duplicate label: the fast path hands over, the reference raises
    "# TYPE _total counter\n_total 1\n",         # empty family name after the counter munging
    "# TYPE m\n",                                # TYPE without a type
    "m{a=\"1\"b=\"2\"} 1\n",                     # missing comma
    "m 1_000\n",                                 # underscores are not numbers here
    "m abc\n",
    'm{__name__="x"} 1\n',                       # the name twice
    "# TYPE m gauge extra\nm 1\n",               # the reference keeps "gauge extra" as the type, then rejects it
])
def test_malformed_text_raises_value_error(text: str) -> None:
    with pytest.raises(ValueError):
        parse_samples(text)
    with pytest.raises(ValueError):
        parse_exposition(text, {}, 0.0)


def test_huge_integer_is_a_value_error_not_an_overflow() -> None:
    text = "m " + "9" * 400 + "\n"
    assert fast_samples(text) is None
    with pytest.raises(ValueError, match="out of range"):
        parse_samples(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list(string.ascii_letters[:6] + '0123456789 _:{}="\\,.+-#\n\tIfNa')),
               max_size=60))
def test_arbitrary_text_never_disagrees(text: str) -> None:
    """Whatever the input, the fast path either declines or agrees; errors stay errors."""
    try:
        want = reference_samples(text)
    except Exception as exc:  # noqa: BLE001 - any failure of the reference must also fail here
        with pytest.raises(type(exc)):
            parse_samples(text)
        return
    fast = fast_samples(text)
    if fast is not None:
        assert_same(fast, want)


def test_module_says_why() -> None:
    assert "3.8-4.2x" in (exposition.__doc__ or "")


# -- the HTTP side of the scrape (http.client, keep-alive) ------------------------------------------------


@contextlib.contextmanager
def keepalive_server(statuses: list[int]) -> Iterator[tuple[str, list[int]]]:
    """An HTTP/1.1 keep-alive server answering with ``statuses`` in turn; yields (url, client ports seen)."""
    ports: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - the http.server API
            ports.append(self.client_address[1])
            body = b"# TYPE m gauge\nm 1\n"
            self.send_response(statuses.pop(0) if statuses else 200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/metrics", ports
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def test_scrapes_reuse_one_connection_and_non_200_is_down() -> None:
    with keepalive_server([500]) as (url, ports):
        collector = EmbeddedCollector(MemorySink(), "r", [Target(url)], interval_s=0.25)
        try:
            target = collector.targets[0]
            results = [collector._scrape(target, {"job": "j"}) for _ in range(3)]  # noqa: SLF001
        finally:
            collector._close_idle()  # noqa: SLF001
    errors = [error for _, _, _, error, _ in results]
    assert errors == ["HTTP 500", None, None]
    assert results[1][1] == [(results[1][0], "m", {"job": "j"}, 1.0)]
    assert len(set(ports)) == 1  # one keep-alive connection for all three scrapes


def test_refused_connection_is_down() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    try:
        collector = EmbeddedCollector(MemorySink(), "r", [Target(f"http://127.0.0.1:{sock.getsockname()[1]}/")])
        _, samples, _, error, _ = collector._scrape(collector.targets[0], {})  # noqa: SLF001
    finally:
        sock.close()
    assert samples == [] and error is not None and "ConnectionRefusedError" in error
