"""Runs against a stored target (``aftershock run EXP --target NAME``, ``aftershock target add``).

The same experiment, recording control, guardrails, emergency stop and store as a lab run (the runner's
helpers are reused, not copied), with three differences: nothing is started (the engine attaches to the
user's deployment and undoes only what it did), the ground truth comes from Aftershock's load generator
aimed at the target's service URL, and the metrics are the target's named PromQL queries read from the
cluster's Prometheus and materialised into the run.

Before anything is created: the namespace's opt-in label, the selectors, every fault the experiment needs
(Chaos Mesh for link faults), the service URL and the Prometheus are checked, each failure one line. The
first run against a target is a dry run: the plan (which pods, zones, nodes and links would be hit) is
printed and recorded, nothing is touched, and the next run breaks things for real.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from string import Template
from typing import Any

import psutil
from chaoslib.configuration import load_configuration

from aftershock.runner import (
    Interrupted,
    Progress,
    RunOutcome,
    RunPlan,
    _execute,
    _Guard,
    _no_progress,
    _prepare,
    _record,
    _sigterm_as_interrupt,
    _Ticker,
)
from chaos.library import LoadedExperiment, activities, guardrails_of, load_experiment
from chaos.targets import plan_experiment
from collectors.prometheus import PrometheusSource, escape_label_value
from core.errors import CollectorError, EngineError, UserError
from core.logs import read_events_since
from core.settings import Settings
from core.stop import check_not_stopped
from engines import engine_for, load_target, open_target
from engines.kubernetes.loadgen import BackgroundLoad, ServiceLoad
from engines.kubernetes.target import KubeTarget
from engines.targets import target_path, targets_dir, write_target
from results import summarise_comparison
from store import RunStore

__all__ = ["add_target", "required_faults", "target_plan", "run_target", "target_dry_run", "materialise_queries",
           "ACTION_FAULTS"]

log = logging.getLogger("aftershock.runner")

#: chaos.actions function -> the engine faults it performs.
ACTION_FAULTS: dict[str, frozenset[str]] = {
    "kill_node": frozenset({"kill_node"}), "kill_agent": frozenset({"kill_agent"}),
    "kill_region": frozenset({"kill_region"}), "restore_region": frozenset({"restore_region"}),
    "partition_regions": frozenset({"set_link"}), "add_latency": frozenset({"set_link"}),
    "add_loss": frozenset({"set_link"}), "heal_links": frozenset({"heal"}),
    "pause_node": frozenset({"pause_node"}), "resume_node": frozenset({"resume_node"}),
    "stress_node": frozenset({"throttle_node"}), "relieve_node": frozenset({"unthrottle_node"}),
    "churn": frozenset({"kill_node"}), "heal": frozenset({"heal"}),
    "surge_load": frozenset({"surge_load"}), "end_surge": frozenset({"surge_load"}),  # no target engine has it yet
}


def _prometheus(url: str | None, timeout_s: float = 10.0) -> PrometheusSource | None:
    if not url:
        return None
    source = PrometheusSource(url, timeout_s=timeout_s, retries=0)
    source.ping()
    return source


def add_target(settings: Settings, target: KubeTarget, *, replace: bool = False) -> dict[str, Any]:
    """Check the target against its cluster (and Prometheus), then store it; nothing is written on failure."""
    if target_path(settings, target.name).exists() and not replace:
        raise EngineError(f"a target named {target.name!r} already exists; remove it first "
                          f"(`aftershock target remove {target.name}`) or pick another name")
    summary = engine_for(settings, target).preflight()
    if target.prometheus_url:
        source = _prometheus(target.prometheus_url, timeout_s=5.0)
        if source is not None:
            source.close()
    write_target(settings, target.name, target.to_file(), replace=replace)
    return {**summary, "stored": str(target_path(settings, target.name))}


def required_faults(data: dict[str, Any]) -> dict[str, set[str]]:
    """Engine faults the experiment's ``chaos.actions`` activities need, with the activities needing each."""
    need: dict[str, set[str]] = {}
    for _phase, activity in activities(data):
        provider = activity.get("provider") or {}
        if provider.get("module") != "chaos.actions":
            continue
        func = str(provider.get("func"))
        faults = set(ACTION_FAULTS.get(func, ()))
        if func == "churn" and (provider.get("arguments") or {}).get("restart_after_s") is not None:
            faults.add("restart_node")
        for fault in faults:
            need.setdefault(fault, set()).add(str(activity.get("name") or func))
    return need


def target_plan(engine: Any, exp: LoadedExperiment, status: dict[str, Any],
                configuration: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """What each fault of the experiment would hit on the target (pods, zones with the nodes a zone loss
    cordons, zone pairs), from the live status: the same selection code as the real run."""
    resolved = load_configuration(dict(exp.data.get("configuration") or {}))  # env values, as chaoslib reads them
    plan = plan_experiment(exp.data, status, {**resolved, **(configuration or {})})
    for entry in plan:
        if entry.get("kind") == "region" and entry.get("func") == "kill_region":
            entry["cordon"] = {zone: engine.zone_nodes(zone) for zone in entry.get("targets", [])}
            entry["pods"] = {zone: [n["name"] for n in status["nodes"] if n["region"] == zone]
                             for zone in entry.get("targets", [])}
    return plan


def _check(engine: Any, target: KubeTarget, exp: LoadedExperiment, plan: RunPlan) -> PrometheusSource | None:
    """Everything that can fail before a run is created; one line each."""
    if not target.service_url:
        raise EngineError(f"target {target.name} has no service URL: the ground truth comes from requests to it; "
                          f"add it again with --service-url")
    for fault, names in sorted(required_faults(exp.data).items()):
        try:
            engine.require(fault)
        except UserError as exc:
            raise type(exc)(f"{exc} (needed by {', '.join(sorted(names))})") from None
    return _prometheus(plan.prometheus_url or target.prometheus_url)


def materialise_queries(source: PrometheusSource, store: RunStore, run_id: str, target: KubeTarget, *,
                        start: float, end: float, step: float) -> int:
    """Copy each named query of the target over the run's window into the store (series named as the
    queries are); a failing query is logged and skipped, the others still land."""
    total = 0
    ns = escape_label_value(target.namespace)
    for name, query in target.queries.items():
        promql = Template(query).substitute(namespace=ns)
        try:
            samples = source.query_range_samples(promql, start, end, step)
        except CollectorError as exc:
            log.warning("target %s: query %s failed: %s", target.name, name, exc)
            continue
        samples = [(ts, name, {**labels, "target": target.name}, v) for ts, _m, labels, v in samples]
        if samples:
            store.append_samples(run_id, samples)
            total += len(samples)
    store.flush()
    return total


def _slice_events(engine: Any, since: float, dest: Path) -> Path | None:
    """The run's slice of the target's event log (the file spans every run against the target)."""
    if not Path(engine.event_log_path).exists():
        return None
    events = read_events_since(Path(engine.event_log_path), since)
    dest.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events))
    return dest


def _run_target_one(plan: RunPlan, exp: LoadedExperiment, target: KubeTarget, repeat: int, settings: Settings,
                    store: RunStore, comparison_id: str, source: PrometheusSource | None, progress: Progress,
                    control: bool) -> RunOutcome:
    seed = plan.seed + repeat
    run_settings = {"target": target.to_file(), "engine": "kubernetes", "experiment": exp.name,
                    "experiment_path": str(exp.path), "seed": seed, "collector": "prometheus" if source else "none",
                    "warmup_s": plan.warmup_s, "observe_s": plan.observe_s, "title": exp.data.get("title", ""),
                    "control": control}
    run_id = store.create_run(experiment=exp.name, topology=target.name, repeat=repeat,
                              comparison_id=comparison_id, settings=run_settings)
    outcome = RunOutcome(run_id, target.name, repeat, "interrupted", control=control)
    label = f"{target.name} #{repeat}{' control' if control else ''}"
    work = targets_dir(settings) / "runs" / run_id
    work.mkdir(parents=True, exist_ok=True)
    request_log = work / "requests.csv"
    engine = open_target(settings, target.name)
    cpu: list[tuple[float, float]] = []
    journal: dict[str, Any] | None = None
    load: BackgroundLoad | None = None
    ticker: _Ticker | None = None
    began = False
    started = time.time()
    try:
        progress(f"{label}: attaching to {target.kube_context}/{target.namespace}")
        engine.begin_run(run_id, request_log=str(request_log))
        began = True
        store.update_run(run_id, meta={"target": target.name, "engine": "kubernetes"})
        load = BackgroundLoad(ServiceLoad(str(target.service_url), target.request, target.load, request_log,
                                          seed=seed)).start()
        psutil.cpu_percent(None)
        guard = _Guard(guardrails_of(exp.data), request_log, time.time(), settings.home, run_id)
        ticker = _Ticker([lambda: cpu.append((time.time(), psutil.cpu_percent(None))), guard.check])
        ticker.start()
        progress(f"{label}: warm-up {plan.warmup_s:g}s")
        time.sleep(plan.warmup_s)
        experiment = _prepare(exp, lab=target.name, settings=settings, run_id=run_id, intensity=None, seed=seed,
                              control=control)
        experiment["configuration"]["aftershock_target"] = target.name
        _execute(plan, experiment, outcome, guard, settings, progress, label, exp.name)
    except KeyboardInterrupt:
        outcome.status = "interrupted"
    finally:
        outcome.observed_until = time.time()
        if ticker is not None:
            ticker.stop()
        if load is not None:
            load.stop()
        if began:
            try:  # the rollbacks should have undone everything; this is the safety net
                engine.end_run()
            except UserError as exc:
                log.error("target %s: healing after run %s failed: %s; run `aftershock target heal %s`",
                          target.name, run_id, exc, target.name)
        if source is not None:
            with suppress(Exception):
                n = materialise_queries(source, store, run_id, target, start=started, end=time.time(),
                                        step=plan.scrape_interval_s)
                store.update_run(run_id, meta={"prometheus_samples": n})
        events = _slice_events(engine, started, work / "events.jsonl")
        status = {"request_log": str(request_log), "event_log": str(events or work / "events.jsonl"),
                  "execution_log": ""}
        _record(store, settings, run_id, status, journal, cpu, outcome, plan)
    return outcome


def run_target(settings: Settings, plan: RunPlan, target_name: str, progress: Progress = _no_progress,
               on_run: Callable[[RunOutcome], None] | None = None) -> dict[str, Any]:
    """Run the plan's experiment against a stored target; a dry run (the plan) when it is the first.

    Returns the JSON summary of docs/results.md, or ``{"dry_run": True, "target", "plan"}``.
    """
    exp = load_experiment(plan.experiment, allow_any_provider=plan.allow_any_provider)
    if plan.axis()[0] is not None:
        raise UserError("sweeps are not supported against a target yet; run one intensity at a time")
    if plan.repeat < 1:
        raise UserError("--repeat must be at least 1")
    check_not_stopped(settings.home, "run")
    target = load_target(settings, target_name)
    engine = open_target(settings, target_name)
    status = engine.status().to_json()
    source = _check(engine, target, exp, plan)
    if not engine.armed:
        steps = target_plan(engine, exp, status, {"aftershock_seed": plan.seed})
        engine.arm({"experiment": exp.name, "plan": steps})
        return {"dry_run": True, "first_run": True, "target": target.name, "experiment": exp.name,
                "pods": len(status["nodes"]), "zones": status["regions"], "plan": steps}
    settings.ensure()
    outcomes: list[RunOutcome] = []
    with RunStore.open(settings.store_dir) as store, _sigterm_as_interrupt():
        meta = {"topologies": [target.name], "repeat": plan.repeat, "seed": plan.seed, "target": target.name,
                "engine": "kubernetes", "control": plan.control,
                "collector": "prometheus" if source is not None else "none"}
        cid = store.create_comparison(exp.name, kind="comparison", title=plan.title or exp.data.get("title", ""),
                                      meta=meta)
        for repeat in range(plan.repeat):
            for control in ([False, True] if plan.control else [False]):
                check_not_stopped(settings.home, f"the rest of comparison {cid} ({len(outcomes)} run(s) done)")
                outcome = _run_target_one(plan, exp, target, repeat, settings, store, cid, source, progress,
                                          control)
                outcomes.append(outcome)
                if on_run is not None:
                    on_run(outcome)
                if outcome.status == "interrupted":
                    raise Interrupted(f"interrupted: rollbacks ran, run {outcome.run_id} stored as interrupted, "
                                      f"target {target.name} healed (comparison {cid})")
        summary = summarise_comparison(store, cid)
    summary["runs"] = [o.__dict__ for o in outcomes]
    return summary


def target_dry_run(settings: Settings, plan: RunPlan, target_name: str) -> dict[str, Any]:
    """What the experiment would hit on the target now; nothing is touched. Counts as the first-run dry run."""
    exp = load_experiment(plan.experiment, allow_any_provider=plan.allow_any_provider)
    engine = open_target(settings, target_name)
    status = engine.status().to_json()
    steps = target_plan(engine, exp, status, {"aftershock_seed": plan.seed})
    if not engine.armed:
        engine.arm({"experiment": exp.name, "plan": steps})
    return {"dry_run": True, "target": target_name, "experiment": exp.name, "pods": len(status["nodes"]),
            "zones": status["regions"], "plan": steps}

