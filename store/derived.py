"""Derived artifacts: what views compute from a finished run or comparison, kept so they compute it once.

Why: the first visit of a 6-hour comparison (10.9 M samples) read 3.9 M requests from the gzip request logs and
analysed them on the dashboard's first view (15-22 s). The runner now derives the curves of each run and the
summary of each comparison when they end and keeps them here; views read them back in milliseconds and
recompute (as before) only when nothing fresh is kept.

Layout, under the store's directory (files, not tables: no schema change, and a frame is one Parquet read)::

    derived/runs/<run_id>/<name>.parquet         one DataFrame per name (e.g. availability, latency, agents)
    derived/runs/<run_id>/manifest.json          {"version", "state", "frames": [names], "written_at"}
    derived/comparisons/<id>/<name>.json         {"version", "state", "doc", "written_at"} (e.g. the summary)

Freshness: each artifact records the caller's format ``version`` and the ``state`` of what it was derived from
(a run's status, end, injection time and request log; for a comparison the states of all its runs). A reader
passing a different version, or finding that the run or comparison changed since, gets None and recomputes:
a stale artifact is never shown. Only finished runs (and comparisons without a running run) are kept.

Every write is atomic (temporary file, fsync, rename; the manifest last), so a reader never sees half an
artifact, and a crash mid-write leaves either the previous artifact or none.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .errors import InvalidRecord, StoreReadOnly

__all__ = ["DerivedMixin", "DERIVED_DIR", "run_state", "comparison_state"]

LOGGER = logging.getLogger("aftershock.store")
DERIVED_DIR = "derived"
_MANIFEST = "manifest.json"


def run_state(run: Mapping[str, Any]) -> list[Any]:
    """What a run's derived artifacts depend on; they are stale once any of it changes."""
    return [run.get("status"), run.get("ended_at"), run.get("injected_at"), run.get("request_log")]


def comparison_state(runs: list[Mapping[str, Any]]) -> list[Any]:
    """The states of every run of a comparison, by run id (a run added or finished makes it stale)."""
    return sorted([[r.get("run_id"), *run_state(r)] for r in runs], key=lambda s: str(s[0]))


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _safe_name(name: str) -> str:
    if not name or not all(c.isalnum() or c in "-_" for c in name):
        raise InvalidRecord(f"derived artifact name {name!r}: use letters, digits, '-' or '_'")
    return name


class DerivedMixin:
    """Derived frames of runs and documents of comparisons (mixed into RunStore)."""

    path: Path
    readonly: bool
    get_run: Any
    get_comparison: Any

    def _derived_dir(self, kind: str, item_id: str) -> Path:
        return self.path / DERIVED_DIR / kind / _safe_name(item_id)

    def _writable(self, what: str) -> None:
        if self.readonly:
            raise StoreReadOnly(f"the run store at {self.path} was opened read-only; cannot keep {what}")

    # ------------------------------------------------------------------ runs
    def put_run_frames(self, run_id: str, frames: Mapping[str, pd.DataFrame], version: int) -> None:
        """Keep ``frames`` (name -> DataFrame) derived from a *finished* run, in format ``version``."""
        self._writable(f"derived frames of run {run_id}")
        run = self.get_run(run_id)
        if run.status == "running":
            raise InvalidRecord(f"run {run_id} is still running: derive its frames once it has finished")
        folder = self._derived_dir("runs", run_id)
        names = [_safe_name(n) for n in frames]
        for name in names:
            _atomic_write(folder / f"{name}.parquet", frames[name].to_parquet(index=False))
        manifest = {"version": int(version), "state": run_state(run), "frames": names, "written_at": time.time()}
        _atomic_write(folder / _MANIFEST, json.dumps(manifest).encode())

    def load_run_frames(self, run_id: str, version: int) -> dict[str, pd.DataFrame] | None:
        """The kept frames of ``run_id`` in format ``version``; None when missing, stale or unreadable."""
        folder = self._derived_dir("runs", run_id)
        try:
            manifest = json.loads((folder / _MANIFEST).read_text())
        except (OSError, ValueError):
            return None
        if manifest.get("version") != int(version) or manifest.get("state") != run_state(self.get_run(run_id)):
            return None
        try:
            return {name: pd.read_parquet(folder / f"{name}.parquet") for name in manifest.get("frames") or []}
        except (OSError, ValueError) as exc:  # a file removed by hand, or damaged: recompute
            LOGGER.warning("derived frames of run %s unreadable (%s); recomputing", run_id, exc)
            return None

    # ------------------------------------------------------------------ comparisons
    def put_comparison_doc(self, comparison_id: str, name: str, doc: Mapping[str, Any], version: int) -> None:
        """Keep a JSON document (e.g. the summary) derived from a comparison none of whose runs is running."""
        self._writable(f"the {name} of comparison {comparison_id}")
        comparison = self.get_comparison(comparison_id)
        if any(r.status == "running" for r in comparison.runs):
            raise InvalidRecord(f"comparison {comparison_id} has a running run: derive its {name} once it ends")
        body = {"version": int(version), "state": comparison_state(list(comparison.runs)), "doc": doc,
                "written_at": time.time()}
        _atomic_write(self._derived_dir("comparisons", comparison_id) / f"{_safe_name(name)}.json",
                      json.dumps(body, allow_nan=False).encode())

    def load_comparison_doc(self, comparison_id: str, name: str, version: int) -> dict[str, Any] | None:
        """The kept document, or None when missing, stale (a run changed or was added) or unreadable."""
        path = self._derived_dir("comparisons", comparison_id) / f"{_safe_name(name)}.json"
        try:
            body = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        comparison = self.get_comparison(comparison_id)
        if body.get("version") != int(version) or body.get("state") != comparison_state(list(comparison.runs)):
            return None
        doc = body.get("doc")
        return doc if isinstance(doc, dict) else None
