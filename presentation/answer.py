"""What a comparison found, in one sentence with its numbers, and how sure it is.

The Overview and the Compare page open on this; it is built from the JSON summary only (docs/results.md), so the
sentence can be checked against the table under it. Example::

    centralized: 39 % dip for the 5.4 s us-east-n3 was down, back 6.7 s after the lift, 62 tasks lost;
    decentralized: no visible impact.

Medians across repeats (the confidence line says how many runs and whether the difference is clear).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from presentation.text import fmt_interval, fmt_seconds

__all__ = ["Answer", "TopologyAnswer", "answer", "topology_clause", "matrix_cells", "r_band", "BAND_COLOURS",
           "MATRIX_COLUMNS"]

#: resilience bands of the Overview matrix (R >= 95 green, >= 80 orange, below red; unknown grey)
BAND_COLOURS = {"good": "green", "fair": "orange", "poor": "red", "none": "gray"}
MATRIX_COLUMNS = ["experiment", "topology", "comparison_id", "created_at", "resilience", "interval", "runs",
                  "recovery", "band"]


@dataclass(frozen=True)
class TopologyAnswer:
    topology: str
    clause: str  # "39 % dip for the 5.4 s us-east-n3 was down, back 6.7 s after the lift, 62 tasks lost"
    resilience: float | None
    recovery: str | None


@dataclass(frozen=True)
class Answer:
    """``lead`` (who held up best), ``sentence`` (per topology, with numbers), ``confidence`` (how sure)."""

    lead: str
    sentence: str
    confidence: str
    topologies: tuple[TopologyAnswer, ...] = ()
    decided: bool = False  # at least one verdict with non-overlapping intervals

    @property
    def text(self) -> str:
        return " ".join(p for p in (self.lead, self.sentence) if p)


def _median(body: Mapping[str, Any], key: str) -> float | None:
    m = (body.get("metrics") or {}).get(key) or {}
    value = m.get("median")
    return None if value is None else float(value)


def _what(summary: Mapping[str, Any], topology: str) -> str | None:
    """What the fault did in words ("us-east-n3 was down"), from the first fault run of ``topology``."""
    for r in summary.get("results") or []:
        if r.get("topology") == topology and not r.get("control"):
            for w in r.get("fault_windows") or []:
                if w.get("what"):
                    return str(w["what"])
    return None


def _dip(depth: float | None) -> str:
    if depth is None:
        return "impact unknown"
    if depth >= 0.995:
        return "full outage"
    if depth < 0.01:
        return "under 1 % dip"
    return f"{depth * 100:.0f} % dip"


def topology_clause(summary: Mapping[str, Any], topology: str) -> str:
    """How one topology bent and came back, from its medians and most common recovery class."""
    body = (summary.get("summary") or {}).get(topology) or {}
    kind = (body.get("recovery") or {}).get("kind")
    if kind == "no_impact":
        return "no visible impact"
    if kind in (None, "no_data"):
        return "no data to judge"
    depth, lost = _median(body, "depth"), _median(body, "lost_tasks")
    fault_s, what = _median(body, "fault_s"), _what(summary, topology)
    dip = _dip(depth)
    if depth is not None and depth < 0.01 and kind != "not_recovered":
        clause = "no visible impact (under 1 % dip)"
    elif kind == "self_healed":
        ttr = _median(body, "ttr_s")
        clause = f"{dip}, healed by itself in {fmt_seconds(ttr)}" if ttr is not None else f"{dip}, healed by itself"
    elif kind == "recovered_after_lift":
        during = f" for the {fmt_seconds(fault_s)} {what}" if fault_s is not None and what else ""
        after = _median(body, "ttr_after_lift_s")
        clause = f"{dip}{during}, back {fmt_seconds(after)} after the lift" if after is not None else \
            f"{dip}{during}, back only after the lift"
    elif kind == "not_recovered":
        clause = f"{dip}, not back within the observed window"
    else:  # recovered_unattributed
        back = _median(body, "ttr_s")
        clause = f"{dip}, back after {fmt_seconds(back)}" if back is not None else f"{dip}, back"
    if lost:
        clause += f", {lost:,.0f} tasks lost"
    return clause


def _confidence(summary: Mapping[str, Any]) -> tuple[str, bool]:
    bodies = summary.get("summary") or {}
    verdicts = summary.get("verdicts") or []
    clear = [v for v in verdicts if v.get("outcome") == "clear"]
    parts: list[str] = []
    runs = sorted({int(b.get("runs_used") or 0) for b in bodies.values()})
    if clear:
        parts.append("Clear at 95 % (intervals do not overlap): " + "; ".join(str(v.get("text")) for v in clear) + ".")
    elif any(b.get("single_run") for b in bodies.values()) or runs == [1]:
        parts.append("One run per topology: a first reading, not a verdict. Repeat it (--repeat 3) for "
                     "intervals.")
    elif any(v.get("outcome") == "within_control_noise" for v in verdicts):
        parts.append("No difference beyond the control runs' noise.")
    elif any(v.get("outcome") == "insufficient_repeats" for v in verdicts):
        parts.append("Too few usable repeats for a verdict (2 or more per topology).")
    elif verdicts:
        parts.append("No clear difference: the 95 % intervals overlap.")
    if runs and runs != [1]:
        count = f"{runs[-1]}" if runs[0] == runs[-1] else f"{runs[0]} to {runs[-1]}"
        parts.append(f"Medians of {count} runs per topology.")
    skipped = len(summary.get("not_analysed") or [])
    if skipped:
        parts.append(f"{skipped} run(s) could not be analysed.")
    return " ".join(parts), bool(clear)


def answer(summary: Mapping[str, Any] | None) -> Answer:
    """The answer of a comparison's summary; an empty answer says why there is none."""
    bodies = (summary or {}).get("summary") or {}
    if not summary or not bodies:
        skipped = len((summary or {}).get("not_analysed") or [])
        why = f"{skipped} run(s) could not be analysed." if skipped else "No run was analysed yet."
        return Answer("", "", why)
    tops = tuple(TopologyAnswer(t, topology_clause(summary, t), _median(b, "resilience"),
                                (b.get("recovery") or {}).get("kind")) for t, b in sorted(bodies.items()))
    sentence = "; ".join(f"{t.topology}: {t.clause}" for t in tops) + "."
    scored = sorted((t for t in tops if t.resilience is not None), key=lambda t: -float(t.resilience or 0))
    lead = ""
    if len(scored) >= 2:
        best, rest = scored[0], scored[1:]
        others = ", ".join(f"{t.topology} {t.resilience:.1f}" for t in rest)
        if float(best.resilience or 0) - float(rest[0].resilience or 0) >= 1.0:
            lead = f"{best.topology} held up best (R {best.resilience:.1f} vs {others})."
        else:
            lead = f"All topologies scored alike (R {best.resilience:.1f}, {others})."
    confidence, decided = _confidence(summary)
    return Answer(lead, sentence, confidence, tops, decided)


def r_band(resilience: float | None) -> str:
    if resilience is None:
        return "none"
    return "good" if resilience >= 95 else "fair" if resilience >= 80 else "poor"


def matrix_cells(entries: list[tuple[Mapping[str, Any], Mapping[str, Any] | None]]) -> pd.DataFrame:
    """Per experiment and topology, the latest analysed comparison's resilience R (median, interval, band).

    ``entries``: (comparison row with ``comparison_id, experiment, created_at``, its summary), any order."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for comparison, summary in sorted(entries, key=lambda e: -float(e[0].get("created_at") or 0)):
        for topo, body in ((summary or {}).get("summary") or {}).items():
            key = (str(comparison.get("experiment")), str(topo))
            if key in rows:
                continue
            r = (body.get("metrics") or {}).get("resilience") or {}
            med = r.get("median")
            rows[key] = {"experiment": key[0], "topology": key[1], "comparison_id": comparison.get("comparison_id"),
                         "created_at": comparison.get("created_at"), "resilience": med,
                         "interval": fmt_interval(r, 1), "runs": int(body.get("runs_used") or 0),
                         "recovery": (body.get("recovery") or {}).get("kind"), "band": r_band(med)}
    return pd.DataFrame(list(rows.values()), columns=MATRIX_COLUMNS).sort_values(
        ["experiment", "topology"]).reset_index(drop=True)
