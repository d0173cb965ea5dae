"""Read series from anything that speaks the Prometheus HTTP API and copy a run's series into the store.

Works with Prometheus, Thanos, Mimir and VictoriaMetrics through prometheus-api-client. Every call carries a
timeout and an explicit time range; ranges longer than 11,000 steps are split, because the server refuses
more points per series; failures become one-line :class:`CollectorError` messages that say what to do.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import requests
from prometheus_api_client import PrometheusApiClientException, PrometheusConnect
from urllib3.util.retry import Retry

from collectors.base import LOGGER, CollectorBase, Sample, SampleSink, flush_sink
from core.errors import CollectorError

__all__ = [
    "PrometheusSource",
    "PrometheusCollector",
    "escape_label_value",
    "selector",
    "materialise",
    "MAX_POINTS",
]

#: Prometheus rejects range queries that would return more points than this per series.
MAX_POINTS = 11_000
_METRIC_RE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")
_LABEL_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_SELECTOR_RE = re.compile(r"^\s*([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*(\{.*\})?\s*$", re.S)
_STATUS_RE = re.compile(r"HTTP Status Code (\d+) \((.*)\)$", re.S)
_ERROR_RE = re.compile(r'"error"\s*:\s*"((?:[^"\\]|\\.)*)"')
_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_label_value(value: str) -> str:
    """Escape a string for a double-quoted PromQL literal (backslash, quote, newline, control chars)."""
    out = []
    for ch in value:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:
            raise CollectorError(f"label value {value!r} contains a lone surrogate, which PromQL cannot express")
        else:
            out.append(ch)
    return "".join(out)


def selector(metric: str | None, labels: Mapping[str, str] | None = None) -> str:
    """A series selector ``metric{name="value",...}`` with every value escaped; equality matchers only."""
    if metric and not _METRIC_RE.match(metric):
        raise CollectorError(f"invalid metric name {metric!r} in a PromQL selector")
    parts = []
    for name, value in (labels or {}).items():
        if not _LABEL_RE.match(name):
            raise CollectorError(f"invalid label name {name!r} in a PromQL selector")
        parts.append(f'{name}="{escape_label_value(str(value))}"')
    if not metric and not parts:
        raise CollectorError("a PromQL selector needs a metric name or at least one label matcher")
    return f"{metric or ''}{{{','.join(parts)}}}" if parts else str(metric)


def _fmt_ts(ts: float) -> str:
    return f"{ts:.3f}"


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC)


class PrometheusSource:
    """A Prometheus-HTTP-API server; every call has a timeout, explicit times and bounded retries."""
    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 10.0,
        session: requests.Session | None = None,
        retries: int = 3,
        backoff_s: float = 0.5,
        max_points: int = MAX_POINTS,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self.retries = max(0, retries)
        self.backoff_s = backoff_s
        self.max_points = max_points
        self._sleep = sleep
        # urllib3 must not retry on its own: retries (on 5xx only) are ours, so a dead server fails fast.
        self._client = PrometheusConnect(url=self.url, session=session, timeout=timeout_s,
                                         retry=Retry(total=0, read=False,
                                                                   raise_on_status=False))

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> PrometheusSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- error handling -------------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[], Any]) -> Any:
        """Run one API call, retrying 5xx with exponential backoff; turn every failure into one line."""
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except requests.exceptions.JSONDecodeError as exc:
                raise CollectorError(
                    f"Prometheus at {self.url} answered {what} with something that is not JSON ({exc}); "
                    "is the URL a Prometheus HTTP API endpoint?"
                ) from None
            except requests.Timeout:
                raise CollectorError(
                    f"Prometheus at {self.url} did not answer {what} within {self.timeout_s:g} s; "
                    "check the server or raise the timeout"
                ) from None
            except requests.ConnectionError as exc:
                text = str(exc).lower()
                reason = ("connection refused" if "refused" in text else
                          "name or service not known" if "resolve" in text or "name or service" in text else
                          type(exc).__name__)
                raise CollectorError(
                    f"cannot reach Prometheus at {self.url}: {reason}; start it or pass --prometheus-url"
                ) from None
            except requests.RequestException as exc:
                raise CollectorError(f"request to Prometheus at {self.url} failed ({what}): {exc}") from None
            except PrometheusApiClientException as exc:
                match = _STATUS_RE.search(str(exc))
                status = int(match.group(1)) if match else 0
                if status >= 500 and attempt < self.retries:
                    delay = self.backoff_s * 2**attempt
                    LOGGER.warning("Prometheus at %s answered HTTP %d to %s; retrying in %.2f s",
                                   self.url, status, what, delay)
                    self._sleep(delay)
                    continue
                detail = _ERROR_RE.search(match.group(2)) if match else None
                reason = detail.group(1) if detail else (match.group(2)[:200] if match else str(exc))
                raise CollectorError(f"Prometheus at {self.url} answered HTTP {status} to {what}: {reason}") \
                    from None
            except (KeyError, TypeError, IndexError, ValueError) as exc:
                raise CollectorError(
                    f"Prometheus at {self.url} answered {what} with an unexpected shape ({type(exc).__name__}: "
                    f"{exc}); is the URL a Prometheus HTTP API endpoint?"
                ) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _garbage(self, what: str, detail: str) -> CollectorError:
        return CollectorError(f"Prometheus at {self.url} answered {what} with an unexpected shape: {detail}")

    # -- API ------------------------------------------------------------------------------------------

    def ping(self) -> None:
        """Raise :class:`CollectorError` unless the server answers a trivial instant query."""
        self._call("a test query", lambda: self._client.custom_query(
            "1", params={"time": _fmt_ts(time.time())}, timeout=self.timeout_s))

    def metric_names(self, match: Sequence[str], start: float, end: float) -> list[str]:
        """Names of the metrics with series matching any of ``match`` in [start, end]."""
        params = {"match[]": list(match), "start": _fmt_ts(start), "end": _fmt_ts(end)}
        names = self._call("a label-values request", lambda: self._client.get_label_values("__name__", params))
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise self._garbage("a label-values request", f"expected a list of names, got {type(names).__name__}")
        return sorted(names)

    def series(self, match: Sequence[str], start: float, end: float) -> list[dict[str, str]]:
        """Label sets (with ``__name__``) of the series matching any of ``match`` in [start, end]."""
        series = self._call("a series request",
                            lambda: self._client.get_series(_dt(start), _dt(end), {"match[]": list(match)}))
        if not isinstance(series, list) or not all(isinstance(s, dict) for s in series):
            raise self._garbage("a series request", "expected a list of label sets")
        return series

    def query_range_raw(self, query: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        """The ``result`` of query_range over [start, end], fetched in chunks of at most ``max_points`` steps."""
        if not step > 0:
            raise CollectorError(f"query step must be positive, got {step}")
        if end < start:
            raise CollectorError(f"query range ends ({end}) before it starts ({start})")
        n_points = math.floor((end - start) / step + 1e-9) + 1
        merged: dict[tuple[tuple[str, str], ...], dict[str, Any]] = {}
        for first in range(0, n_points, self.max_points):
            last = min(n_points, first + self.max_points) - 1
            c_start, c_end = start + first * step, start + last * step
            result = self._call("a range query", lambda s=c_start, e=c_end: self._client.custom_query_range(
                query, _dt(s), _dt(e), repr(float(step)),
                params={"start": _fmt_ts(s), "end": _fmt_ts(e)}, timeout=self.timeout_s))
            for item in self._check_matrix(result):
                key = tuple(sorted(item["metric"].items()))
                if key in merged:
                    merged[key]["values"].extend(item["values"])
                else:
                    merged[key] = {"metric": item["metric"], "values": list(item["values"])}
        return list(merged.values())

    def _check_matrix(self, result: Any) -> list[dict[str, Any]]:
        if not isinstance(result, list):
            raise self._garbage("a range query", f"expected a list of series, got {type(result).__name__}")
        for item in result:
            if not (isinstance(item, dict) and isinstance(item.get("metric"), dict)
                    and isinstance(item.get("values"), list)):
                raise self._garbage("a range query", "a series without 'metric' and 'values'")
        return result

    def query_range_samples(self, query: str, start: float, end: float, step: float,
                            name: str | None = None) -> list[Sample]:
        """Samples ``(ts, metric, labels, value)``; ``__name__`` becomes the metric (else ``name``/query)."""
        out: list[Sample] = []
        for item in self.query_range_raw(query, start, end, step):
            labels = dict(item["metric"])
            metric = labels.pop("__name__", None) or name or query
            try:
                out.extend((float(ts), metric, labels, float(v)) for ts, v in item["values"])
            except (TypeError, ValueError) as exc:
                raise self._garbage("a range query", f"bad [ts, value] pair ({exc})") from None
        return out

    def query_range(self, query: str, start: float, end: float, step: float) -> pd.DataFrame:
        """A long DataFrame: columns ``ts``, ``metric``, ``value`` and one column per label."""
        rows = [{"ts": ts, "metric": m, "value": v, **labels}
                for ts, m, labels, v in self.query_range_samples(query, start, end, step)]
        if not rows:
            return pd.DataFrame({"ts": pd.Series(dtype=float), "metric": pd.Series(dtype=str),
                                 "value": pd.Series(dtype=float)})
        return pd.DataFrame(rows)


def _per_metric_query(metric: str, sel: str) -> str | None:
    """``sel`` restricted to ``metric``, or None when ``sel`` names another metric."""
    m = _SELECTOR_RE.match(sel)
    if m is None:
        raise CollectorError(f"unsupported series selector {sel!r}: expected metric{{...}} or {{...}}")
    name, braces = m.group(1), m.group(2) or ""
    if name and name != metric:
        return None
    return f"{metric}{braces}"


def materialise(
    source: PrometheusSource,
    sink: SampleSink,
    run_id: str,
    *,
    start: float,
    end: float,
    step: float = 1.0,
    selectors: Iterable[str] | None = None,
    matchers: Mapping[str, str] | None = None,
) -> int:
    """Copy every series matching ``selectors``/``matchers`` in [start, end] into ``sink``; returns samples.

    Run at the end of a run so history and reports never depend on the server's retention. Metric names
    are enumerated with the label-values API, then each metric is fetched with query_range.
    """
    sels = list(selectors or [])
    if matchers:
        sels.append(selector(None, matchers))
    if not sels:
        raise CollectorError("materialise needs at least one selector or matcher (e.g. the lab's label)")
    total = 0
    for metric in source.metric_names(sels, start, end):
        for sel in sels:
            query = _per_metric_query(metric, sel)
            if query is None:
                continue
            samples = source.query_range_samples(query, start, end, step, name=metric)
            if samples:
                sink.append_samples(run_id, samples)
                total += len(samples)
    flush_sink(sink)
    LOGGER.info("materialised %d samples of run %s from %s", total, run_id, source.url)
    return total


class PrometheusCollector(CollectorBase):
    """Collector protocol over a Prometheus: ``start()`` marks the window (and publishes targets to a
    :class:`~collectors.promserver.PrometheusServer` when given), ``stop()`` materialises it into the sink."""

    def __init__(self, source: PrometheusSource, sink: SampleSink, run_id: str, *,
                 matchers: Mapping[str, str] | None = None, selectors: Iterable[str] | None = None,
                 step: float = 1.0, clock: Callable[[], float] = time.time,
                 on_start: Callable[[], None] | None = None) -> None:
        self.source, self.sink, self.run_id = source, sink, run_id
        self.matchers, self.selectors, self.step = matchers, list(selectors or []), step
        self._clock = clock
        self._on_start = on_start
        self.started_at: float | None = None
        self.samples_written = 0

    def start(self) -> None:
        if self._on_start is not None:
            self._on_start()
        self.started_at = self._clock()

    def stop(self) -> None:
        if self.started_at is None:
            return
        self.samples_written = materialise(self.source, self.sink, self.run_id, start=self.started_at,
                                           end=self._clock(), step=self.step, selectors=self.selectors,
                                           matchers=self.matchers)
