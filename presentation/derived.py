"""Compute once, when a run or a comparison ends; read back on every view.

The runner calls :func:`keep_run` when a run has finished and :func:`keep_comparison` when its comparison is
done; both store what views need (the run's 1 s curves, the comparison's JSON summary) through the store's
derived artifacts (``store.derived``). :func:`comparison_summary` is what views call: the kept summary when it is
fresh, else ``results.summarise_comparison`` as before (the numbers are the same: the kept document *is* its
output). A failure to keep is logged, never raised: a run is never lost because a cache could not be written.
"""

from __future__ import annotations

import logging
from typing import Any

from analysis import SCHEMA_VERSION
from core.errors import AftershockError
from presentation.curves import derive_run_curves
from results import summarise_comparison
from store import RunStore

__all__ = ["SUMMARY_DOC", "SUMMARY_VERSION", "keep_run", "keep_comparison", "comparison_summary", "kept_summary"]

log = logging.getLogger("aftershock.presentation")

SUMMARY_DOC = "summary"
#: the JSON summary's schema version and this module's own revision: a kept summary of another is recomputed
SUMMARY_VERSION = SCHEMA_VERSION * 100 + 1


def keep_run(store: RunStore, run_id: str) -> bool:
    """Derive and keep the curves of a finished run; False (logged) when that failed."""
    try:
        derive_run_curves(store, run_id)
        return True
    except (AftershockError, ValueError, OSError) as exc:
        log.warning("could not keep the curves of run %s (views will compute them): %s", run_id, exc)
        return False


def keep_comparison(store: RunStore, comparison_id: str, summary: dict[str, Any] | None = None) -> bool:
    """Keep the comparison's JSON summary (``summary`` when the caller computed it already)."""
    try:
        doc = summary if summary is not None else summarise_comparison(store, comparison_id)
        store.put_comparison_doc(comparison_id, SUMMARY_DOC, doc, SUMMARY_VERSION)
        return True
    except (AftershockError, ValueError, OSError, TypeError) as exc:
        log.warning("could not keep the summary of comparison %s (views will compute it): %s", comparison_id, exc)
        return False


def kept_summary(store: RunStore, comparison_id: str) -> dict[str, Any] | None:
    """The kept summary when fresh, else None."""
    return store.load_comparison_doc(comparison_id, SUMMARY_DOC, SUMMARY_VERSION)


def comparison_summary(store: RunStore, comparison_id: str) -> dict[str, Any]:
    """The comparison's JSON summary (docs/results.md): kept when fresh, else computed now."""
    kept = kept_summary(store, comparison_id)
    return kept if kept is not None else summarise_comparison(store, comparison_id)
