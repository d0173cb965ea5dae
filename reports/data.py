"""Everything a report shows, gathered once from the store (then rendered to HTML, PDF, JSON, Markdown, JUnit).

A comparison's numbers are ``summarise_comparison``'s (the same as ``aftershock show`` and the dashboard);
a single run is summarised with the same ``compare`` over that one run, so every format reads one shape.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from analysis import compare
from chaos.library import activities
from core.errors import AftershockError, ReportError
from presentation import curves, frames
from results import analyse_stored_run, summarise_comparison
from scheduling.regressions import regressions_for
from store import RunStore

__all__ = ["ReportData", "load_report_data", "experiment_info", "slo_of", "MAX_TIMELINES"]

log = logging.getLogger("aftershock.reports")

MAX_TIMELINES = 8


@dataclass
class ReportData:
    """What every format renders; ``summary`` is the JSON summary of docs/results.md."""
    kind: str
    id: str
    experiment: str
    title: str
    description: str
    steps: list[dict[str, Any]]
    hypothesis: list[dict[str, Any]]
    slo: dict[str, Any]
    summary: dict[str, Any]
    runs: list[dict[str, Any]]
    availability: pd.DataFrame
    latency: pd.DataFrame
    timelines: dict[str, pd.DataFrame] = field(default_factory=dict)
    journals: dict[str, dict[str, Any]] = field(default_factory=dict)
    regressions: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def experiment_info(data: dict[str, Any] | None) -> dict[str, Any]:
    """Title, description, method steps and hypothesis probes (with tolerances) of an experiment."""
    data = data or {}
    steps = []
    for phase, a in activities(data):
        if phase != "steady-state-hypothesis":
            provider = a.get("provider") or {}
            steps.append({"phase": phase, "name": str(a.get("name", "")), "type": str(a.get("type", "")),
                          "function": f"{provider.get('module', '')}.{provider.get('func', '')}".strip("."),
                          "arguments": provider.get("arguments") or {}})
    hypothesis = data.get("steady-state-hypothesis") or {}
    probes = [{"name": str(p.get("name", "")), "tolerance": p.get("tolerance")}
              for p in hypothesis.get("probes") or [] if isinstance(p, dict)]
    return {"title": str(data.get("title", "")), "description": str(data.get("description", "")), "steps": steps,
            "hypothesis": probes, "hypothesis_title": str(hypothesis.get("title", ""))}


def slo_of(data: dict[str, Any] | None) -> dict[str, Any]:
    """``extensions: [{name: aftershock, slo: {min_resilience: 90, max_ttr_s: 30}}]`` of an experiment."""
    for ext in (data or {}).get("extensions") or []:
        if isinstance(ext, dict) and ext.get("name") == "aftershock" and isinstance(ext.get("slo"), dict):
            return dict(ext["slo"])
    return {}


def _experiment_data(store: RunStore, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The experiment as it ran (from a journal), else the file the run recorded."""
    for run in runs:
        journal = store.get_journal(run["run_id"])
        if journal and isinstance(journal.get("experiment"), dict):
            return journal["experiment"]
    for run in runs:
        path = (store.get_run(run["run_id"]).get("settings") or {}).get("experiment_path")
        if path and Path(path).is_file():
            try:
                data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
                if isinstance(data, dict):
                    return data
            except (OSError, yaml.YAMLError):
                log.warning("cannot read experiment file %s", path)
    return {}


def _run_summary(store: RunStore, run: dict[str, Any]) -> dict[str, Any]:
    try:
        metrics = analyse_stored_run(store, run["run_id"])
    except (AftershockError, ValueError) as exc:
        return {"comparison_id": run["run_id"], "experiment": run["experiment"], "results": [], "summary": {},
                "verdicts": [], "notes": [], "not_analysed": [{"run_id": run["run_id"], "topology": run["topology"],
                                                               "status": run["status"], "error": str(exc)}]}
    doc = compare([metrics], comparison_id=run["run_id"], experiment=run["experiment"]).to_json_dict()
    doc["not_analysed"] = []
    return doc


def load_report_data(store: RunStore, report_id: str, *, home: Path | None = None) -> ReportData:
    """Gather a run (``r-...``) or a comparison (``c-...``); :class:`ReportError` for an unknown id."""
    try:
        if report_id.startswith("c-"):
            comparison = store.get_comparison(report_id)
            runs = list(comparison["runs"])
            summary, kind, experiment = summarise_comparison(store, report_id), "comparison", comparison["experiment"]
        elif report_id.startswith("r-"):
            run = store.get_run(report_id)
            runs, kind, experiment = [run], "run", run["experiment"]
            summary = _run_summary(store, run)
            summary["kind"] = "run"
        else:
            raise ReportError(f"{report_id}: not a run (r-...) or comparison (c-...) id; list them with "
                              f"`aftershock runs`")
    except AftershockError as exc:
        if isinstance(exc, ReportError):
            raise
        raise ReportError(str(exc)) from None
    exp = _experiment_data(store, runs)
    info = experiment_info(exp)
    drawn = curves.comparison_curves(store, runs)
    problems = list(drawn.problems)
    timelines: dict[str, pd.DataFrame] = {}
    journals: dict[str, dict[str, Any]] = {}
    for run in runs:
        if len(timelines) < MAX_TIMELINES:
            timelines[run["run_id"]] = frames.timeline_frame(store.load_timeline(run["run_id"]),
                                                             curves.injection_time(run))
        journal = store.get_journal(run["run_id"])
        if journal:
            journals[run["run_id"]] = journal
    regressions: list[dict[str, Any]] = []
    if home is not None and kind == "comparison":
        flags = regressions_for(home)
        regressions = flags[flags["comparison_id"] == report_id].to_dict("records")
    return ReportData(
        kind=kind, id=report_id, experiment=str(experiment), title=info["title"] or str(experiment),
        description=info["description"], steps=info["steps"], hypothesis=info["hypothesis"], slo=slo_of(exp),
        summary=summary, runs=[{k: r.get(k) for k in ("run_id", "topology", "repeat", "status", "injected_at")}
                               for r in runs],
        availability=drawn.availability, latency=drawn.latency,
        timelines=timelines, journals=journals, regressions=regressions, problems=problems)
