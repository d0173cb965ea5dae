"""What a topology's runs say in words: how they recovered, which properties held, and what one run shows.

Why apart from compare.py: these are statements, not statistics; a topology with a single run still gets them
("one run: repeat to confirm"), while medians and verdicts need repeats.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from analysis.faults import RECOVERY_CLASSES
from analysis.run import RunMetrics

__all__ = ["SINGLE_RUN_LABEL", "recovery_summary", "properties_of", "single_run"]

SINGLE_RUN_LABEL = "one run: repeat to confirm"


def recovery_summary(runs: Sequence[RunMetrics]) -> dict[str, Any]:
    """How a topology's runs recovered: a count per class, the most common one and its sentence."""
    counts = {k: 0 for k in RECOVERY_CLASSES}
    for r in runs:
        kind = r.metrics.get("recovery")
        if kind in counts:
            counts[kind] += 1
    if not any(counts.values()):
        return {"counts": counts, "kind": None, "text": None, "mechanisms": {}, "bound_violations": 0}
    kind = max(RECOVERY_CLASSES, key=lambda k: (counts[k], -RECOVERY_CLASSES.index(k)))
    example = next(r for r in runs if r.metrics.get("recovery") == kind)
    mechanisms: dict[str, int] = {}
    for r in runs:
        mech = ((r.bounds or {}).get("mechanism") or {}).get("kind")
        if mech:
            mechanisms[mech] = mechanisms.get(mech, 0) + 1
    return {"counts": counts, "kind": kind, "text": (example.recovery or {}).get("text"), "mechanisms": mechanisms,
            "bound_violations": sum(bool((r.bounds or {}).get("violated")) for r in runs)}


def properties_of(runs: Sequence[RunMetrics]) -> dict[str, bool | None]:
    """Checkable properties over every run (True only when every run with a verdict on it holds it)."""
    out: dict[str, bool | None] = {}
    for r in runs:
        for key, value in ((r.ledger or {}).get("properties") or {}).items():
            if value is None:
                out.setdefault(key, None)
            else:
                out[key] = bool(value) and out.get(key) is not False
    return out


def single_run(runs: Sequence[RunMetrics]) -> dict[str, Any] | None:
    """What a topology's few runs show on their own, with per-request intervals, labelled as such."""
    if not runs:
        return None
    statements = []
    for r in runs:
        during = (r.recovery or {}).get("availability_during_fault") or {}
        parts = [str((r.recovery or {}).get("text") or "")]
        if during.get("value") is not None:
            parts.append(f"availability during the fault {100 * during['value']:.1f} % "
                         f"(95 % interval {100 * during['low']:.1f}-{100 * during['high']:.1f} %, "
                         f"{int(during['n'])} requests)")
        statements.append({"run_id": r.run_id, "text": "; ".join(p for p in parts if p),
                           "availability_during_fault": during})
    return {"label": SINGLE_RUN_LABEL, "runs": len(runs), "statements": statements}
