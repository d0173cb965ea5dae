"""The runner: one experiment against several topologies (and repeats) under identical conditions.

For each topology and repeat: a fresh lab owned by this process (it dies with us, even on ``kill -9``),
a warm-up, the experiment through chaoslib's ``run_experiment`` with the recording control, an
observation period, collection, teardown. Everything lands in the store as one comparison.

Fairness: topologies run one after another (never side by side on 2 cores), each repeat with the same
seed for every topology (so the same tasks arrive at the same times), and the same timeline (warm-up,
experiment, observation). The machine's CPU load is recorded and runs where it was saturated flagged.

Safety: chaoslib always runs rollbacks, also on Ctrl-C and SIGTERM; the runner then stores the run as
interrupted, brings the lab down and stops. Guardrails (``extensions: [{name: aftershock, guardrails:
...}]``) abort a run whose untargeted regions stay below an availability floor.
"""

from __future__ import annotations

import copy
import logging
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import psutil
from chaoslib.experiment import run_experiment

from analysis import fault_windows
from chaos.lease import interrupt_experiment
from chaos.library import CONTROL_MODULE, Guardrails, LoadedExperiment, activities, guardrails_of, load_experiment
from chaos.targets import describe_targets
from collectors.base import targets_from_status
from collectors.embedded import EmbeddedCollector
from collectors.prometheus import PrometheusCollector, PrometheusSource
from collectors.promserver import PrometheusServer
from core.errors import ExperimentError, UserError
from core.interrupts import interrupts_outside_finalizers
from core.logs import read_requests_since
from core.settings import Settings
from core.stop import check_not_stopped, stop_state
from engines.ray.engine import ray_lab_up, ray_options_for
from fleet.lab import lab_down, lab_status, lab_up
from fleet.plan import planned_status
from fleet.scaling import scaled_capacity, scaled_to_agents
from fleet.topology import Topology, load_topology
from presentation.derived import keep_comparison, keep_run
from results import summarise_comparison
from store import RunStore

__all__ = ["RunPlan", "RunOutcome", "SweepPoint", "sweep_points", "run_comparison", "dry_run", "control_experiment",
           "SATURATED_CPU_PERCENT", "Interrupted"]

log = logging.getLogger("aftershock.runner")

SATURATED_CPU_PERCENT = 90.0
TICK_S = 1.0

Progress = Callable[[str], None]


class Interrupted(UserError):
    """The run was stopped by Ctrl-C or SIGTERM; rollbacks ran and the run is stored as interrupted."""
    exit_code = 130


@dataclass
class RunPlan:
    experiment: str
    topologies: list[str] = field(default_factory=lambda: ["centralized", "decentralized", "hybrid"])
    repeat: int = 1
    seed: int = 1
    collector: Literal["embedded", "prometheus"] = "embedded"
    prometheus_url: str | None = None
    warmup_s: float = 10.0
    observe_s: float = 15.0
    scrape_interval_s: float = 1.0
    allow_any_provider: bool = False
    intensities: list[float] | None = None  # a sweep: one run per intensity
    scales: list[int] | None = None  # a sweep: each topology scaled to these agent counts (load scaled with it)
    capacities: list[float] | None = None  # a sweep: each topology's capacity times these factors (load fixed)
    scale_regions: bool = False  # --scale grows the region count instead of the nodes per region
    title: str = ""
    control: bool = False  # also a control run per topology and repeat: the faults replaced by no-ops
    engine: Literal["lab", "ray"] = "lab"  # where each topology is brought up (docs/engines.md)
    ray_address: str | None = None  # --engine ray: an existing cluster (HOST:PORT); None starts a local one

    def axis(self) -> tuple[str | None, list[float]]:
        """The sweep's axis and its values: exactly one of intensity, scale, capacity (None for a comparison)."""
        given = [(name, values) for name, values in (("intensity", self.intensities), ("scale", self.scales),
                                                     ("capacity", self.capacities)) if values]
        if len(given) > 1:
            raise UserError(f"a sweep runs along one axis; got {' and '.join('--' + n for n, _ in given)}")
        if self.scale_regions and not self.scales:
            raise UserError("--scale-regions needs --scale")
        return (given[0][0], list(given[0][1])) if given else (None, [])


@dataclass(frozen=True)
class SweepPoint:
    """One topology at one value of the sweep's axis: the topology to bring up (scaled, for scale and capacity)
    and the axis record stored in the run's settings (``settings.axis``, read by results/axes.py)."""
    value: float | None
    base: Topology
    topology: Topology
    axis: dict[str, Any] | None


def _axis_record(name: str, value: float, base: Topology, topo: Topology, grow_regions: bool) -> dict[str, Any]:
    return {"name": name, "value": value, "base_topology": base.name, "base_agents": base.total_agents,
            "agents": topo.total_agents, "nodes": topo.total_nodes,
            "regions": sum(1 for r in topo.regions if r.nodes), "tasks_per_s": topo.workload.tasks_per_s,
            **({"grow_regions": grow_regions} if name == "scale" else {})}


def sweep_points(plan: RunPlan, topologies: list[Topology]) -> list[list[SweepPoint]]:
    """Per axis value (in the order given), one point per topology; every scaled topology is built (and so
    validated) here, before anything starts, so a size that does not fit is refused with one line."""
    name, values = plan.axis()
    if name is None:
        return [[SweepPoint(None, t, t, None) for t in topologies]]
    out = []
    for value in values:
        row = []
        for base in topologies:
            if name == "scale":
                topo = scaled_to_agents(base, int(value), grow_regions=plan.scale_regions)
            elif name == "capacity":
                topo = scaled_capacity(base, float(value))
            else:
                topo = base
            row.append(SweepPoint(value, base, topo, _axis_record(name, value, base, topo, plan.scale_regions)))
        out.append(row)
    scaled = [p.topology.name for row in out for p in row]
    if name != "intensity" and len(set(scaled)) != len(scaled):
        dupes = sorted({n for n in scaled if scaled.count(n) > 1})
        raise UserError(f"--{name}: a value is given twice ({', '.join(dupes)}); give each once")
    return out


@dataclass
class RunOutcome:
    run_id: str
    topology: str
    repeat: int
    status: str
    intensity: float | None = None
    cpu_mean: float | None = None
    saturated: bool = False
    aborted_reason: str | None = None
    control: bool = False
    observed_until: float | None = None  # end of the observation: the analysis window ends here
    axis: str | None = None  # the sweep's axis (intensity, scale, capacity); None for a comparison
    axis_value: float | None = None  # this run's value on it (for intensity, the same as ``intensity``)
    base_topology: str | None = None  # the topology as named before scaling (``topology`` is the scaled one)


def _no_progress(_msg: str) -> None:
    return None


# ---- helpers ----------------------------------------------------------------------------------
class _Ticker(threading.Thread):
    """Once a second: CPU load sample, Prometheus target refresh, guardrail check."""
    def __init__(self, jobs: list[Callable[[], None]]):
        super().__init__(name="aftershock-runner-ticker", daemon=True)
        self.jobs = jobs
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(TICK_S):
            for job in self.jobs:
                try:
                    job()
                except Exception:  # a failing sampler must not stop the others
                    log.exception("runner background job failed")

    def stop(self) -> None:
        self._stop_event.set()
        self.join(5)


class _Guard:
    """Trips when availability of the watched regions over the last window is below the floor, or when the
    emergency stop file appears (core.stop): either way the experiment ends gracefully and is stored aborted."""
    def __init__(self, rails: Guardrails, request_log: Path, armed_at: float, home: Path | None = None,
                 run_id: str | None = None):
        self.rails = rails
        self.request_log = request_log
        self.armed_at = armed_at
        self.home = home
        self.run_id = run_id
        self.active = False
        self.tripped: str | None = None

    def check(self) -> None:
        if not self.active or self.tripped:
            return
        stopped = stop_state(self.home) if self.home is not None else None
        if stopped is not None:
            self.tripped = stopped.describe()
            interrupt_experiment(self.tripped, self.run_id)
            return
        if self.rails.min_availability is None:
            return
        now = time.time()
        if now - self.armed_at < self.rails.window_s:
            return
        try:
            rows = read_requests_since(self.request_log, now - self.rails.window_s, key="ts")
        except ExperimentError:  # no request log yet: nothing to judge
            return
        rows = [r for r in rows if r["client_region"] not in self.rails.exclude_regions]
        if len(rows) < 10:
            return
        avail = sum(r["outcome"] == "ok" for r in rows) / len(rows)
        if avail < self.rails.min_availability:
            self.tripped = (f"guardrail: availability {avail:.3f} in untargeted regions over {self.rails.window_s:g}s "
                            f"fell below {self.rails.min_availability:g}")
            log.warning("%s; aborting (rollbacks will run)", self.tripped)
            interrupt_experiment(self.tripped, self.run_id)


def _sigterm_as_interrupt() -> AbstractContextManager[None]:
    """Outside chaoslib (warm-up, observation), SIGTERM behaves like Ctrl-C so teardown runs; neither is lost
    by landing inside a finalizer (core.interrupts)."""
    return interrupts_outside_finalizers(signal.SIGINT, signal.SIGTERM)


def _journal_injection(journal: dict[str, Any]) -> float | None:
    for entry in journal.get("run", []) or []:
        activity = entry.get("activity", {})
        if activity.get("type") == "action" and entry.get("start"):
            return datetime.fromisoformat(entry["start"]).timestamp()
    return None


def _run_status(journal: dict[str, Any], guard: _Guard | None) -> str:
    status = journal.get("status", "failed")
    if status == "interrupted" and guard is not None and guard.tripped:
        return "aborted"
    return {"completed": "completed", "failed": "failed", "aborted": "aborted"}.get(status, "interrupted")


#: what replaces a fault in a control run: a process that does nothing, so the activity, its pauses and the
#: timeline stay and nothing is broken (Netflix ChAP's control group)
NOOP_PROVIDER = {"type": "process", "path": sys.executable, "arguments": ["-c", "pass"]}


def control_experiment(data: dict[str, Any]) -> dict[str, Any]:
    """The experiment with every ``chaos.actions`` action of its method replaced by a no-op (same name with
    "(control: no-op)", same pauses); probes, hypothesis and rollbacks stay as they are (a rollback of nothing
    broken is harmless), so the control sees the same load, seed and timeline as the fault run."""
    out = copy.deepcopy(data)
    method = []
    for activity in out.get("method") or []:
        provider = activity.get("provider") or {}
        if activity.get("type") == "action" and provider.get("module") == "chaos.actions":
            activity = {**activity, "name": f"{activity.get('name')} (control: no-op)",
                        "provider": dict(NOOP_PROVIDER)}
        method.append(activity)
    out["method"] = method
    return out


def _execute(plan: RunPlan, experiment: dict[str, Any], outcome: RunOutcome, guard: _Guard, settings: Settings,
             progress: Callable[[str], None], label: str, name: str) -> None:
    """The experiment and the observation after it, the same for labs and targets: refused under the emergency
    stop (nothing injected yet, nothing to roll back), rollbacks always, no observation after a stop."""
    if (stopped := stop_state(settings.home)) is not None:
        outcome.status, outcome.aborted_reason = "aborted", stopped.describe()
        return
    progress(f"{label}: experiment {name}")
    guard.armed_at, guard.active = time.time(), True
    # "always": rollbacks run whatever happened, Ctrl-C and SIGTERM included (chaoslib skips them otherwise).
    journal = run_experiment(experiment, settings={"runtime": {"rollbacks": {"strategy": "always"}}})
    guard.active = False
    outcome.status = _run_status(journal, guard)
    outcome.aborted_reason = guard.tripped
    if outcome.status == "interrupted" and (stopped := stop_state(settings.home)) is not None:
        # the lease keeper may see the stop file before the guard's next tick: ended by the stop all the same
        outcome.status, outcome.aborted_reason = "aborted", stopped.describe()
    if outcome.status != "interrupted" and stop_state(settings.home) is None:
        progress(f"{label}: observing recovery {plan.observe_s:g}s")
        time.sleep(plan.observe_s)


def _prepare(exp: LoadedExperiment, *, lab: str, settings: Settings, run_id: str,
             intensity: float | None, seed: int, control: bool = False) -> dict[str, Any]:
    data = control_experiment(exp.data) if control else copy.deepcopy(exp.data)
    config = dict(data.get("configuration") or {})
    config.update({"aftershock_lab": lab, "aftershock_home": str(settings.home), "aftershock_run_id": run_id,
                   "aftershock_collect": False, "aftershock_finish": False, "aftershock_seed": seed,
                   "aftershock_control": control})
    if intensity is not None:
        # counts (nodes, regions) are integers; keep fractional intensities (e.g. a loss rate) as they are
        config["aftershock_intensity"] = int(intensity) if float(intensity).is_integer() else intensity
    data["configuration"] = config
    controls = [c for c in data.get("controls", []) or []
                if (c.get("provider") or {}).get("module") != CONTROL_MODULE]
    controls.append({"name": "aftershock-recorder", "provider": {"type": "python", "module": CONTROL_MODULE}})
    data["controls"] = controls
    return data


# ---- one run ------------------------------------------------------------------------------------
class _Collection:
    """The collector of one run: embedded scraper, or a Prometheus (started by us or given by URL)."""
    def __init__(self, plan: RunPlan, settings: Settings, store: RunStore, prometheus: Any):
        self.plan, self.settings, self.store, self.prometheus = plan, settings, store, prometheus
        self.collector: Any = None
        self.lab: str | None = None

    def targets(self) -> list[Any]:
        return targets_from_status(lab_status(self.settings, self.lab))

    def start(self, run_id: str, lab: str) -> None:
        self.lab = lab
        if self.plan.collector == "embedded":
            self.collector = EmbeddedCollector(self.store, run_id, targets_fn=self.targets,
                                               interval_s=self.plan.scrape_interval_s)
        else:
            server, source = self.prometheus
            server.write_targets(lab, self.targets())
            self.collector = PrometheusCollector(source, self.store, run_id, matchers={"aftershock_lab": lab},
                                                 step=self.plan.scrape_interval_s)
        self.collector.start()

    def refresh(self) -> None:
        if self.plan.collector == "prometheus" and self.lab:
            self.prometheus[0].write_targets(self.lab, self.targets())

    def stop(self) -> None:
        if self.collector is not None:
            collector, self.collector = self.collector, None
            collector.stop()


def _engine_record(plan: RunPlan, topo: Topology) -> dict[str, Any]:
    """What the run stores about the engine beside its topology (the dashboard and reports show it)."""
    if plan.engine == "ray":
        return ray_options_for(topo, address=plan.ray_address).record()
    return {"name": "lab"}


def _bring_up(plan: RunPlan, settings: Settings, topo: Topology, **kwargs: Any) -> dict[str, Any]:
    """A fresh deployment of ``topo`` owned by this process, on the plan's engine."""
    if plan.engine == "ray":
        return ray_lab_up(settings, topo, address=plan.ray_address, **kwargs)
    return lab_up(settings, topo, **kwargs)


def _run_one(plan: RunPlan, exp: LoadedExperiment, topo: Topology, repeat: int, intensity: float | None,
             settings: Settings, store: RunStore, comparison_id: str, prometheus: Any,
             progress: Progress, control: bool = False, axis: dict[str, Any] | None = None) -> RunOutcome:

    seed = plan.seed + repeat
    run_settings = {"topology": topo.model_dump(), "experiment": exp.name, "experiment_path": str(exp.path),
                    "seed": seed, "collector": plan.collector, "warmup_s": plan.warmup_s,
                    "observe_s": plan.observe_s, "intensity": intensity, "title": exp.data.get("title", ""),
                    "control": control, "engine": _engine_record(plan, topo), "axis": axis}
    run_id = store.create_run(experiment=exp.name, topology=topo.name, repeat=repeat,
                              comparison_id=comparison_id, settings=run_settings)
    outcome = RunOutcome(run_id, topo.name, repeat, "interrupted", intensity, control=control,
                         axis=(axis or {}).get("name"), axis_value=(axis or {}).get("value"),
                         base_topology=(axis or {}).get("base_topology"))
    label = f"{topo.name} #{repeat}{' control' if control else ''}"
    collection = _Collection(plan, settings, store, prometheus)
    cpu: list[tuple[float, float]] = []
    guard: _Guard | None = None
    ticker: _Ticker | None = None
    status: dict[str, Any] | None = None
    journal: dict[str, Any] | None = None
    try:
        progress(f"{label}: starting lab")
        status = _bring_up(plan, settings, topo, name=_lab_name(topo, run_id), seed=seed, owner_pid=os.getpid())
        store.update_run(run_id, meta={"lab": status["name"], "engine": status.get("engine", "lab")})
        collection.start(run_id, status["name"])
        psutil.cpu_percent(None)
        guard = _Guard(guardrails_of(exp.data), Path(status["request_log"]), time.time(), settings.home, run_id)
        ticker = _Ticker([lambda: cpu.append((time.time(), psutil.cpu_percent(None))), collection.refresh,
                          guard.check])
        ticker.start()
        progress(f"{label}: warm-up {plan.warmup_s:g}s")
        time.sleep(plan.warmup_s)
        experiment = _prepare(exp, lab=status["name"], settings=settings, run_id=run_id, intensity=intensity,
                              seed=seed, control=control)
        _execute(plan, experiment, outcome, guard, settings, progress, label, exp.name)
    except KeyboardInterrupt:
        outcome.status = "interrupted"
    finally:
        outcome.observed_until = time.time()
        if ticker is not None:
            ticker.stop()
        with suppress(Exception):
            collection.stop()
        if status is not None:
            with suppress(Exception):
                lab_down(settings, status["name"])
        _record(store, settings, run_id, status, journal, cpu, outcome, plan)
        keep_run(store, run_id)  # its curves, computed once now instead of on every first view
    return outcome


def _lab_name(topo: Topology, run_id: str) -> str:
    """The run's lab: the topology's name made a lab name (``decentralized.x81`` -> ``decentralized-x81``) and
    the run id's tail, so labs of one sweep differ."""
    stem = re.sub(r"[^a-z0-9-]+", "-", topo.name.lower()).strip("-")[:28].strip("-") or "lab"
    return f"{stem}-{run_id[-4:]}"


def _record(store: RunStore, settings: Settings, run_id: str, status: dict[str, Any] | None,
            journal: dict[str, Any] | None, cpu: list[tuple[float, float]], outcome: RunOutcome,
            plan: RunPlan) -> None:
    """Attach what the run produced and finish it; never raises (a run is always closed)."""
    try:
        run = store.get_run(run_id)
        if journal is not None and store.get_journal(run_id) is None:
            store.put_journal(run_id, journal)
        if run.get("injected_at") is None and journal is not None:
            injected = _journal_injection(journal)
            if injected is not None:
                store.update_run(run_id, injected_at=injected)
        if cpu:
            store.put_machine_load(run_id, cpu)
            outcome.cpu_mean = sum(c for _, c in cpu) / len(cpu)
            outcome.saturated = outcome.cpu_mean >= SATURATED_CPU_PERCENT
        if status is not None:
            if Path(status["request_log"]).exists():
                store.attach_request_log(run_id, Path(status["request_log"]), settings.runs_dir)
            if Path(status["event_log"]).exists():
                store.attach_event_log(run_id, Path(status["event_log"]), runs_dir=settings.runs_dir)
            executions = Path(str(status.get("execution_log") or ""))
            if str(executions) and executions.is_file():
                store.attach_execution_log(run_id, executions, settings.runs_dir)
        if store.load_fault_windows(run_id) is None:  # the recording control did not get to it
            store.put_fault_windows(run_id, [w.to_dict() for w in fault_windows(store.load_timeline(run_id))])
        run = store.get_run(run_id)
        meta: dict[str, Any] = {"cpu_mean": outcome.cpu_mean, "saturated": outcome.saturated,
                                "aborted_reason": outcome.aborted_reason,
                                "deviated": bool(journal.get("deviated")) if journal else None}
        if run.get("injected_at") is not None:  # to the end of the observation, not of the teardown
            until = outcome.observed_until or time.time()
            meta["analysis_window_s"] = max(1.0, until - float(run["injected_at"]))
        store.update_run(run_id, meta=meta)
    except Exception:
        log.exception("recording run %s failed; finishing it as %s", run_id, outcome.status)
    finally:
        with suppress(Exception):
            if store.get_run(run_id)["status"] == "running" or outcome.status == "interrupted":
                store.finish_run(run_id, outcome.status)


# ---- the comparison ---------------------------------------------------------------------------
def _topologies(plan: RunPlan) -> list[Topology]:
    topologies = [load_topology(t) for t in plan.topologies]
    names = [t.name for t in topologies]
    if len(set(names)) != len(names):
        raise UserError(f"topologies must have distinct names; got {', '.join(names)}")
    return topologies


@contextmanager
def _prometheus(plan: RunPlan, settings: Settings) -> Iterator[Any]:
    """(server-or-target-writer, source) for the Prometheus collector; None for the embedded one."""
    if plan.collector != "prometheus":
        yield None
        return

    server = PrometheusServer(settings.prometheus_dir, scrape_interval_s=plan.scrape_interval_s)
    if plan.prometheus_url:
        # An outside Prometheus: it must read file-SD targets from <home>/prometheus/sd (docs/collectors.md).

        source = PrometheusSource(plan.prometheus_url)
        source.ping()
        yield server, source
        return
    with server:
        yield server, server.source()


def run_comparison(settings: Settings, plan: RunPlan, progress: Progress = _no_progress,
                   on_run: Callable[[RunOutcome], None] | None = None) -> dict[str, Any]:
    """Run the plan; returns the JSON summary of docs/results.md (plus ``runs`` with each run's status).

    Raises :class:`Interrupted` (after storing the interrupted run and tearing everything down) on
    Ctrl-C or SIGTERM.
    """
    exp = load_experiment(plan.experiment, allow_any_provider=plan.allow_any_provider)
    topologies = _topologies(plan)
    if plan.repeat < 1:
        raise UserError("--repeat must be at least 1")
    check_not_stopped(settings.home, "run")
    axis, values = plan.axis()
    points = sweep_points(plan, topologies)
    settings.ensure()
    outcomes: list[RunOutcome] = []
    with RunStore.open(settings.store_dir) as store, _sigterm_as_interrupt():
        kind = "sweep" if axis else "comparison"
        meta = {"topologies": [t.name for t in topologies], "repeat": plan.repeat, "seed": plan.seed,
                "collector": plan.collector, "intensities": plan.intensities, "control": plan.control}
        if axis:  # which axis and its values; scaled runs carry their own topology name (fleet/scaling.py)
            meta.update({"axis": axis, "axis_values": values, "scales": plan.scales, "capacities": plan.capacities,
                         "scale_regions": plan.scale_regions})
        cid = store.create_comparison(exp.name, kind=kind, title=plan.title or exp.data.get("title", ""), meta=meta)
        with _prometheus(plan, settings) as prometheus:
            for i, row in enumerate(points):
                for repeat in range(plan.repeat):
                    for point in row:
                        check_not_stopped(settings.home, f"the rest of comparison {cid} ({len(outcomes)} run(s) done)")
                        controls = [False, True] if plan.control and i == 0 else [False]
                        intensity = point.value if axis == "intensity" else None
                        for control in controls:
                            outcome = _run_one(plan, exp, point.topology, repeat, intensity, settings, store, cid,
                                               prometheus, progress, control=control, axis=point.axis)
                            outcomes.append(outcome)
                            if on_run is not None:
                                on_run(outcome)
                            if outcome.status == "interrupted":
                                raise Interrupted(f"interrupted: rollbacks ran, run {outcome.run_id} stored as "
                                                  f"interrupted, lab stopped (comparison {cid})")
        summary = summarise_comparison(store, cid)
        keep_comparison(store, cid, summary)
    summary["runs"] = [o.__dict__ for o in outcomes]
    return summary


def dry_run(settings: Settings, plan: RunPlan) -> dict[str, Any]:
    """What the plan would break, per topology, without starting or breaking anything."""
    exp = load_experiment(plan.experiment, allow_any_provider=plan.allow_any_provider)

    out: dict[str, Any] = {"experiment": exp.name, "path": str(exp.path), "title": exp.data.get("title", ""),
                           "guardrails": guardrails_of(exp.data).__dict__, "topologies": []}
    for topo in [p.topology for row in sweep_points(plan, _topologies(plan)) for p in row]:
        status = planned_status(topo)
        steps = []
        for where, activity in activities(exp.data):
            provider = activity.get("provider") or {}
            args = dict(provider.get("arguments") or {})
            step = {"phase": where, "name": activity.get("name"), "type": activity.get("type"),
                    "function": f"{provider.get('module')}.{provider.get('func')}", "arguments": args}
            if provider.get("module") == "chaos.actions":
                try:
                    step["targets"] = describe_targets(status, str(provider.get("func")), args)
                except Exception as exc:  # noqa: BLE001 - a dry run reports, it never fails half-way
                    step["targets_error"] = str(exc)
            steps.append(step)
        out["topologies"].append({"topology": topo.name, "kind": topo.kind, "nodes": len(status["nodes"]),
                                  "steps": steps})
    return out
