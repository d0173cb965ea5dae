"""Across repeats: medians, bootstrap 95 % intervals and verdicts that only speak when clear.

Censored TTRs (not recovered by itself: never back, or back only after the fault was lifted) count as
+infinity: a run that never recovered is slower than every run that did, so medians and intervals stay
honest instead of dropping the worst runs. An interval bound that is infinite is written as null with
``high_censored: true``. Control runs (analysis/controls.py) are summarised apart and set the noise a
verdict must exceed; with fewer repeats than a verdict needs, each topology still states what its runs
show (``single_run``), labelled "one run: repeat to confirm".
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.controls import ControlNoise, beyond_noise, fault_effects, noise_by_topology
from analysis.jsonsafe import SCHEMA_VERSION, json_safe
from analysis.run import RunMetrics
from analysis.statements import SINGLE_RUN_LABEL, properties_of, recovery_summary, single_run

__all__ = [
    "SUMMARY_METRICS",
    "VERDICT_METRICS",
    "SINGLE_RUN_LABEL",
    "EXCLUDED_STATUSES",
    "MetricSummary",
    "Verdict",
    "ComparisonSummary",
    "bootstrap_median_ci",
    "summarise_metric",
    "intervals_overlap",
    "compare",
]

# metrics summarised per topology; ``budget_burn_rate`` is ``budget_burn.rate``
SUMMARY_METRICS = (
    "availability_baseline",
    "availability_min",
    "impact_onset_s",
    "ttd_s",
    "ttr_s",
    "ttr_after_lift_s",
    "fault_s",
    "availability_during_fault",
    "depth",
    "resilience_loss",
    "resilience",
    "lost_tasks",
    "sessions_lost",
    "p99_inflation",
    "p99_ok_s",
    "blast_radius_regions",
    "blast_radius_sessions",
    "budget_burn_rate",
    "lost_writes",
    "duplicated_tasks",
)

# metric -> (True if higher is better, phrase "<better> ... <worse>")
VERDICT_METRICS: dict[str, tuple[bool, str]] = {
    "ttr_s": (False, "recovers by itself faster than"),
    "ttd_s": (False, "detects the failure faster than"),
    "resilience_loss": (False, "loses less resilience than"),
    "depth": (False, "degrades less deeply than"),
    "lost_tasks": (False, "loses fewer tasks than"),
    "sessions_lost": (False, "loses fewer sessions than"),
    "p99_inflation": (False, "keeps p99 latency lower than"),
    "blast_radius_regions": (False, "hurts fewer client regions than"),
}

# chaostoolkit statuses of runs that did not run their course; "failed" (hypothesis deviated) stays
EXCLUDED_STATUSES = frozenset({"aborted", "interrupted"})


def bootstrap_median_ci(
    values: Sequence[float],
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int | Sequence[int] = 0,
) -> tuple[float, float, float]:
    """(median, low, high): percentile bootstrap of the median with a seeded numpy Generator.

    Values are sorted first, so the interval depends on the data, not on their order. Bounds are
    order statistics of the resampled medians (no interpolation), so +inf values stay +inf.
    """
    x = np.sort(np.asarray(values, dtype=float))
    if x.size == 0:
        raise ValueError("no values to bootstrap")
    rng = np.random.default_rng(seed)
    medians = np.median(x[rng.integers(0, x.size, size=(n_resamples, x.size))], axis=1)
    alpha = (1.0 - confidence) / 2.0
    low = float(np.quantile(medians, alpha, method="lower"))
    high = float(np.quantile(medians, 1.0 - alpha, method="higher"))
    return float(np.median(x)), low, high


@dataclass(frozen=True)
class MetricSummary:
    """One metric of one topology over its repeats; None interval when too few repeats."""

    n: int
    censored: int
    median: float | None
    low: float | None
    high: float | None

    def to_json_dict(self) -> dict[str, Any]:
        """JSON form: infinite (censored) values become null with a flag saying so."""
        return json_safe(
            {
                "n": self.n,
                "censored": self.censored,
                "median": self.median,
                "median_censored": self.median is not None and math.isinf(self.median),
                "ci_low": self.low,
                "ci_high": self.high,
                "high_censored": self.high is not None and math.isinf(self.high),
            }
        )


def _metric_values(runs: Iterable[RunMetrics], metric: str) -> tuple[list[float], int]:
    values, censored = [], 0
    for r in runs:
        m = r.metrics
        if metric == "ttr_s" and m.get("recovered") is False:
            values.append(math.inf)
            censored += 1
            continue
        v = (m.get("budget_burn") or {}).get("rate") if metric == "budget_burn_rate" else m.get(metric)
        if v is None or isinstance(v, bool):
            continue
        v = float(v)
        if not math.isnan(v):
            values.append(v)
    return values, censored


def summarise_metric(
    runs: Sequence[RunMetrics],
    topology: str,
    metric: str,
    *,
    min_repeats: int = 2,
    seed: int = 0,
    n_resamples: int = 2000,
) -> MetricSummary:
    """Median and bootstrap interval of ``metric``; the seed is derived per (topology, metric)."""
    values, censored = _metric_values(runs, metric)
    if not values:
        return MetricSummary(0, 0, None, None, None)
    if len(values) < min_repeats:
        return MetricSummary(len(values), censored, float(np.median(values)), None, None)
    sub_seed = zlib.crc32(f"{topology}\0{metric}".encode())
    median, low, high = bootstrap_median_ci(values, seed=[seed, sub_seed], n_resamples=n_resamples)
    return MetricSummary(len(values), censored, median, low, high)


def intervals_overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Closed intervals [low, high] share at least one point."""
    return a[0] <= b[1] and b[0] <= a[1]


@dataclass(frozen=True)
class Verdict:
    """A pairwise statement about one metric.

    ``outcome``: ``clear``, ``no_clear_difference``, ``within_control_noise`` (the intervals do not overlap but
    the difference is within the control runs' noise), ``insufficient_repeats`` or ``no_data``.
    """

    metric: str
    topologies: tuple[str, str]
    outcome: str
    better: str | None
    text: str
    control_noise: dict[str, float | None] | None = None

    @property
    def decides(self) -> bool:
        """Whether this verdict says something (a clear difference); the others are folded away in tables."""
        return self.outcome == "clear"

    def to_json_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "metric": self.metric,
            "topologies": list(self.topologies),
            "outcome": self.outcome,
            "better": self.better,
            "decides": self.decides,
            "control_noise": self.control_noise,
            "text": self.text,
        }


def _verdict(metric: str, a: str, b: str, sa: MetricSummary, sb: MetricSummary, min_repeats: int,
             noise: Mapping[str, Mapping[str, ControlNoise]] | None = None) -> Verdict:
    higher_better, phrase = VERDICT_METRICS[metric]
    na, nb = ((noise or {}).get(a, {}).get(metric), (noise or {}).get(b, {}).get(metric))
    spreads = {a: na.spread if na else None, b: nb.spread if nb else None} if noise else None
    if sa.n == 0 or sb.n == 0:
        return Verdict(metric, (a, b), "no_data", None, f"{metric}: no data for {a if sa.n == 0 else b}", spreads)
    if sa.n < min_repeats or sb.n < min_repeats:
        text = f"{metric}: more repeats needed ({a}: {sa.n}, {b}: {sb.n}; need {min_repeats} each)"
        return Verdict(metric, (a, b), "insufficient_repeats", None, text, spreads)
    ia, ib = (sa.low, sa.high), (sb.low, sb.high)
    if intervals_overlap(ia, ib):
        text = f"{metric}: no clear difference between {a} and {b}"
        return Verdict(metric, (a, b), "no_clear_difference", None, text, spreads)
    a_higher = ia[0] > ib[1]
    better, worse = (a, b) if a_higher == higher_better else (b, a)
    if noise and sa.median is not None and sb.median is not None:
        beyond = beyond_noise(sa.median - sb.median, [na, nb])
        if beyond is False:
            text = f"{metric}: the difference between {a} and {b} is within the control runs' noise"
            return Verdict(metric, (a, b), "within_control_noise", None, text, spreads)
    return Verdict(metric, (a, b), "clear", better, f"{better} {phrase} {worse}", spreads)


@dataclass(frozen=True)
class ComparisonSummary:
    """The comparison of several topologies (and repeats) under one experiment."""

    comparison_id: str
    experiment: str
    results: tuple[RunMetrics, ...]
    summary: dict[str, dict[str, Any]]
    verdicts: tuple[Verdict, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)
    params: dict[str, Any] = field(default_factory=dict)
    controls: dict[str, Any] = field(default_factory=dict)
    effects: tuple[dict[str, Any], ...] = field(default_factory=tuple)

    def to_json_dict(self) -> dict[str, Any]:
        """The stable JSON summary of docs/results.md."""
        return json_safe(
            {
                "schema_version": SCHEMA_VERSION,
                "comparison_id": self.comparison_id,
                "experiment": self.experiment,
                "params": self.params,
                "results": [r.to_json_dict() for r in self.results],
                "summary": {
                    topo: {
                        "runs": s["runs"],
                        "runs_used": s["runs_used"],
                        "recovery": s["recovery"],
                        "properties": s["properties"],
                        "single_run": s["single_run"],
                        "metrics": {k: v.to_json_dict() for k, v in s["metrics"].items()},
                    }
                    for topo, s in self.summary.items()
                },
                "verdicts": [v.to_json_dict() for v in self.verdicts],
                "controls": self.controls,
                "control_effects": list(self.effects),
                "notes": list(self.notes),
            }
        )


def compare(
    runs: Iterable[RunMetrics],
    *,
    comparison_id: str,
    experiment: str,
    min_repeats: int = 2,
    seed: int = 0,
    n_resamples: int = 2000,
    excluded_statuses: Iterable[str] = EXCLUDED_STATUSES,
) -> ComparisonSummary:
    """Summarise runs per topology and state verdicts only where the 95 % intervals do not overlap.

    Runs whose status is in ``excluded_statuses`` stay in ``results`` but are left out of the
    summary and verdicts. Results are ordered by (topology, repeat, run_id).
    """
    everything = tuple(sorted(runs, key=lambda r: (r.topology, r.repeat, r.run_id, r.control)))
    ordered = tuple(r for r in everything if not r.control)
    controls = tuple(r for r in everything if r.control)
    excluded = frozenset(excluded_statuses)
    topologies = sorted({r.topology for r in ordered})
    used = {t: [r for r in ordered if r.topology == t and r.status not in excluded] for t in topologies}
    summary: dict[str, dict[str, Any]] = {}
    for topo in topologies:
        metrics = {
            m: summarise_metric(
                used[topo], topo, m, min_repeats=min_repeats, seed=seed, n_resamples=n_resamples
            )
            for m in SUMMARY_METRICS
        }
        summary[topo] = {
            "runs": sum(r.topology == topo for r in ordered),
            "runs_used": len(used[topo]),
            "metrics": metrics,
            "recovery": recovery_summary(used[topo]),
            "properties": properties_of(used[topo]),
            "single_run": single_run(used[topo]) if len(used[topo]) < min_repeats else None,
        }
    notes = []
    few = [t for t in topologies if len(used[t]) < min_repeats]
    if few:
        notes.append(
            f"more repeats needed for a verdict: {', '.join(few)} "
            f"{'has' if len(few) == 1 else 'have'} fewer than {min_repeats} usable runs"
        )
    if len(topologies) < 2:
        notes.append("one topology only: nothing to compare")
    usable_controls = [r for r in controls if r.status not in excluded]
    noise = noise_by_topology(usable_controls, list(VERDICT_METRICS)) if usable_controls else None
    if controls and not noise:
        notes.append("the control runs could not be used (aborted or interrupted): verdicts without control noise")
    verdicts = tuple(
        _verdict(m, a, b, summary[a]["metrics"][m], summary[b]["metrics"][m], min_repeats, noise)
        for a, b in itertools.combinations(topologies, 2)
        for m in VERDICT_METRICS
    )
    control_doc: dict[str, Any] = {}
    effects: list[dict[str, Any]] = []
    if controls:
        control_doc = {
            topo: {"runs": [r.run_id for r in controls if r.topology == topo],
                   "runs_used": sum(r.topology == topo for r in usable_controls),
                   "noise": {m: n.to_dict() for m, n in (noise or {}).get(topo, {}).items()}}
            for topo in sorted({r.topology for r in controls})
        }
        medians = {t: {m: summary[t]["metrics"][m].median for m in VERDICT_METRICS} for t in topologies}
        effects = fault_effects(medians, noise or {}, list(VERDICT_METRICS))
    return ComparisonSummary(
        comparison_id=comparison_id,
        experiment=experiment,
        results=everything,
        summary=summary,
        verdicts=verdicts,
        notes=tuple(notes),
        params={"min_repeats": min_repeats, "seed": seed, "n_resamples": n_resamples, "confidence": 0.95},
        controls=control_doc,
        effects=tuple(effects),
    )

