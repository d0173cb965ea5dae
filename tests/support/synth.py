"""Synthetic inputs with answers known by hand, shared by the analysis tests (tested in tests/unit/test_synth.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np
import pandas as pd

__all__ = ["T0", "requests_from_bins", "requests_from_availability", "series_from_requests", "avail_frame",
           "requests_with_outage", "executions_for", "activity"]

T0 = 1_000_000.0  # injection time used throughout; bins start on whole seconds


def requests_from_bins(
    bins: Sequence[tuple[int, int, int]],
    *,
    start: float,
    dt: float = 1.0,
    regions: Sequence[str] = ("us-east", "eu-west"),
    sessions: int = 20,
    latency_s: float = 0.1,
    slow_latency_s: float = 2.0,
) -> pd.DataFrame:
    """A request log with, in bin k, bins[k] = (ok, error, timeout) requests ending evenly spread.

    Failed requests take ``slow_latency_s``; ok ones ``latency_s``. Regions and sessions rotate.
    """
    rows = []
    i = 0
    for k, (ok, err, tmo) in enumerate(bins):
        outcomes = ["ok"] * ok + ["error"] * err + ["timeout"] * tmo
        n = len(outcomes)
        for j, outcome in enumerate(outcomes):
            end = start + k * dt + (j + 0.5) / n * dt
            lat = latency_s if outcome == "ok" else slow_latency_s
            rows.append(
                {
                    "ts": end - lat,
                    "end": end,
                    "client_region": regions[i % len(regions)],
                    "session": f"s{i % sessions}",
                    "outcome": outcome,
                    "latency_s": lat,
                    "agent": "a1" if outcome == "ok" else "",
                    "served_region": regions[0] if outcome == "ok" else "",
                    "session_ok": 1.0 if outcome == "ok" else np.nan,
                    "attempts": 1,
                    "task": f"t{i}",
                }
            )
            i += 1
    return pd.DataFrame(rows)


def requests_from_availability(
    post: Sequence[float | None],
    *,
    baseline_bins: int = 30,
    per_bin: int = 100,
    start: float = T0,
    **kw,
) -> pd.DataFrame:
    """``baseline_bins`` of perfect service before ``start``, then one bin per value of ``post``.

    A value is the bin's availability (rounded to per_bin requests); None is a bin without requests.
    """
    bins = [(per_bin, 0, 0)] * baseline_bins
    for a in post:
        if a is None:
            bins.append((0, 0, 0))
        else:
            ok = int(round(a * per_bin))
            bad = per_bin - ok
            bins.append((ok, bad - bad // 2, bad // 2))
    return requests_from_bins(bins, start=start - baseline_bins, **kw)


def avail_frame(pre: Sequence[float | None], post: Sequence[float | None], *, t0: float = T0) -> pd.DataFrame:
    """An availability frame (t, availability) with ``pre`` bins before t0 and ``post`` from t0."""
    values = [np.nan if v is None else v for v in [*pre, *post]]
    t = t0 - len(pre) + np.arange(len(values), dtype=float)
    return pd.DataFrame({"t": t, "availability": values})


def series_from_requests(
    requests: pd.DataFrame,
    *,
    seed: int = 1,
    jitter: float = 0.2,
    offset: float = 0.0,
    reset_at: float | None = None,
    topology: str = "decentralized",
) -> pd.DataFrame:
    """The client counter as an embedded collector would store it: scraped every ~1 s.

    Scrapes fall at whole seconds + ``offset``, each moved by up to +-``jitter`` seconds.

    A series appears at its first increment (as prometheus_client does for labelled children);
    at ``reset_at`` the load generator restarts and every counter starts again from 0.
    """
    rng = np.random.default_rng(seed)
    lo, hi = float(requests["end"].min()), float(requests["end"].max())
    base = np.arange(np.floor(lo), np.ceil(hi) + 2.0) + offset
    scrapes = base + rng.uniform(-jitter, jitter, size=base.size)
    rows = []
    for (region, outcome), g in requests.groupby(["client_region", "outcome"]):
        ends = np.sort(g["end"].to_numpy(dtype=float))
        for s in scrapes:
            since = reset_at if reset_at is not None and s >= reset_at else -np.inf
            value = float(np.sum((ends <= s) & (ends > since)))
            if value == 0 and not np.any(ends <= s):
                continue  # not yet exported
            rows.append(
                {
                    "ts": float(s),
                    "metric": "aftershock_client_requests_total",
                    "value": value,
                    "topology": topology,
                    "client_region": region,
                    "outcome": outcome,
                }
            )
    return pd.DataFrame(rows)


def requests_with_outage(
    onset: float,
    recovery: float,
    *,
    start: float = T0 - 30.0,
    end: float = T0 + 60.0,
    rate: float = 40.0,
    seed: int = 0,
    ok_latency_s: float = 0.05,
    fail_latency_s: float = 0.002,
    sessions: int = 30,
) -> pd.DataFrame:
    """A request log with Poisson arrivals at ``rate``/s ending in [start, end): every request ending in
    [onset, recovery) fails (a refused connection: ``fail_latency_s``), every other one succeeds. The truth is
    exact: impact from ``onset``, recovery at ``recovery``."""
    rng = np.random.default_rng(seed)
    n = int(rate * (end - start) * 1.5) + 10
    ends = start + np.cumsum(rng.exponential(1.0 / rate, size=n))
    ends = ends[ends < end]
    bad = (ends >= onset) & (ends < recovery)
    lat = np.where(bad, fail_latency_s, ok_latency_s)
    idx = np.arange(ends.size)
    return pd.DataFrame({
        "ts": ends - lat, "end": ends, "client_region": np.where(idx % 2 == 0, "us-east", "eu-west"),
        "session": [f"s{i % sessions}" for i in idx], "outcome": np.where(bad, "error", "ok"), "latency_s": lat,
        "agent": np.where(bad, "", "eu-west-n1-a1"), "served_region": np.where(bad, "", "eu-west"),
        "session_ok": np.where(bad, np.nan, 1.0), "attempts": 1, "task": [f"t{i}" for i in idx],
    })


def executions_for(requests: pd.DataFrame, *, runs: dict[str, int] | None = None,
                   default: dict[str, int] | None = None, node: str = "eu-west-n1", region: str = "eu-west",
                   writes: bool = True) -> pd.DataFrame:
    """The agents' execution log for ``requests``: each task run ``runs[task]`` times, else by outcome
    (``default``: ok 1, error 0, timeout 0, rejected 0). Executions end 10 ms before the request does; none
    waited for a slot (``queued_s`` 0)."""
    runs = runs or {}
    default = {"ok": 1, "error": 0, "timeout": 0, "rejected": 0, **(default or {})}
    rows = []
    for r in requests.itertuples(index=False):
        k = runs.get(str(r.task), default[str(r.outcome)])
        for j in range(k):
            rows.append({"task": str(r.task), "agent": f"{node}-a{j + 1}", "node": node, "region": region,
                         "start": float(r.ts), "end": float(r.end) - 0.01, "session": str(r.session),
                         "session_write": 1 if writes else 0, "queued_s": 0.0})
    cols = ["task", "agent", "node", "region", "start", "end", "session", "session_write", "queued_s"]
    return pd.DataFrame(rows, columns=cols)


def activity(name: str, func: str | None, start: float, end: float | None = None, *, kind: str = "action",
             phase: str = "method", status: str = "succeeded", arguments: dict | None = None,
             output: dict | None = None) -> dict:
    """One timeline entry as chaos/control.py records it."""
    detail: dict = {"phase": phase, "output": json.dumps(output or {})}
    if func:
        detail["func"] = f"chaos.actions.{func}"
    if arguments is not None:
        detail["arguments"] = arguments
    return {"name": name, "type": kind, "start": start, "end": start + 0.05 if end is None else end,
            "status": status, "detail": detail}
