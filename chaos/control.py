"""The recording control: a Chaos Toolkit control that records an experiment run into the run store.

List it in an experiment (``controls: [{name: aftershock, provider: {type: python, module: chaos.control}}]``)
and a plain ``chaos run`` lands in the store: the run, the timeline of every activity, the injection time
(start of the method's first action), the lab's metrics scraped for the run's duration, the machine's CPU
load, the slices of the lab's request, event and execution logs that fall in the run's window, the fault's
active window(s) derived from the timeline (analysis.faults), the journal, and the final status.
Configuration keys (all optional):

- ``aftershock_home``, ``aftershock_lab``: which lab (chaos/labref.py);
- ``aftershock_run_id``: record into a run the runner already created instead of creating one;
- ``aftershock_experiment``: the experiment's name in the store (default: its title);
- ``aftershock_collect`` (default true): scrape metrics and CPU load here; false when the runner collects;
- ``aftershock_finish`` (default true): set the run's final status; false when the runner finishes it;
- ``aftershock_heal_on_exit`` (default true): heal the lab when the method broke something and Chaos
  Toolkit did not play the rollbacks (a failed hypothesis or an interruption);
- ``aftershock_scrape_interval_s`` (default 1.0).

A control must never break the experiment: every hook logs its failure and returns.
"""

from __future__ import annotations

import csv
import json
import logging
import tempfile
import threading
import time
from collections.abc import Mapping
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import psutil
from chaoslib import substitute

from analysis import fault_windows
from chaos import lease
from chaos.labref import LabRef, config_value, resolve_lab, resolve_settings
from collectors.base import targets_from_status
from collectors.embedded import EmbeddedCollector
from core.audit import actor, record
from core.errors import BadLogFile
from core.interrupts import interrupts_outside_finalizers
from core.logframes import read_execution_log
from core.logs import execution_log_writer, read_events_since, read_requests_since
from core.stop import stop_state
from core.wait import wait_until
from fleet.lab import ControlClient
from store import RunStore

__all__ = [
    "Recorder",
    "run_status",
    "current_recorder",
    "configure_control",
    "cleanup_control",
    "before_experiment_control",
    "after_experiment_control",
    "before_hypothesis_control",
    "after_hypothesis_control",
    "before_method_control",
    "after_method_control",
    "before_rollback_control",
    "after_rollback_control",
    "before_activity_control",
    "after_activity_control",
]

log = logging.getLogger("aftershock.chaos")

CPU_INTERVAL_S = 1.0
#: How long the end of a run waits for the clients to log requests that started before it ended.
LOG_SETTLE_S = 5.0
_OUTPUT_CHARS = 400


def _flag(configuration: Mapping[str, Any] | None, key: str, default: bool) -> bool:
    value = config_value(configuration, key, default)
    if isinstance(value, str):
        return value.strip().lower() not in ("0", "false", "no", "off")
    return bool(value)


def _epoch(iso: str | None) -> float | None:
    try:
        return datetime.fromisoformat(str(iso)).timestamp() if iso else None
    except ValueError:
        return None


def _summary(output: Any) -> str:
    text = json.dumps(output, default=str)
    return text if len(text) <= _OUTPUT_CHARS else text[: _OUTPUT_CHARS - 3] + "..."


def run_status(journal: Mapping[str, Any] | None) -> str:
    """The store's run status for a Chaos Toolkit journal: a deviated hypothesis is a failed run."""
    status = (journal or {}).get("status")
    if status in ("interrupted", "aborted"):
        return status
    if status == "failed" or (journal or {}).get("deviated"):
        return "failed"
    return "completed" if status == "completed" else "aborted"


class Recorder:
    """Records one experiment run; the control's hooks delegate here, and a runner may use it directly."""
    def __init__(self, configuration: Mapping[str, Any] | None, experiment: Mapping[str, Any] | None = None,
                 *, clock: Any = time.time) -> None:
        self.configuration = dict(configuration or {})
        self.experiment = dict(experiment or {})
        self.clock = clock
        self.settings = resolve_settings(self.configuration)
        self.store: RunStore | None = None
        self.lab: LabRef | None = None
        self.run_id: str | None = None
        self.started_at = clock()
        self.injected_at: float | None = None
        self.timeline: list[dict[str, Any]] = []
        self.phase = "setup"
        self.status: str | None = None
        self._hypothesis_start: float | None = None
        self._method_seen = False
        self._lock = threading.RLock()
        self._collector: EmbeddedCollector | None = None
        self._cpu_thread: threading.Thread | None = None
        self._cpu_stop = threading.Event()
        self._cpu: list[tuple[float, float]] = []
        self._finished = False

    # ------------------------------------------------------------------ start
    def start(self) -> str:
        """Open the store, create (or adopt) the run and start collecting; returns the run id."""
        self.settings.ensure()
        self.store = RunStore.open(self.settings.store_dir)
        try:
            self.lab = resolve_lab(self.configuration)
        except Exception as exc:  # record the run anyway; the activities will report the lab problem
            log.warning("recording control: no lab to record (%s)", exc)
        run_id = config_value(self.configuration, "aftershock_run_id")
        name = str(config_value(self.configuration, "aftershock_experiment", self.experiment.get("title") or "?"))
        if run_id:
            self.run_id = str(run_id)
            self.started_at = float(self.store.get_run(self.run_id)["started_at"])
        else:
            topology = self.lab.status.get("topology", "unknown") if self.lab else "unknown"
            public = {k: v for k, v in self.configuration.items() if not isinstance(v, dict)}
            self.run_id = self.store.create_run(experiment=name, topology=str(topology),
                                                settings={"configuration": public})
            self.started_at = float(self.store.get_run(self.run_id)["started_at"])
        self.store.update_run(self.run_id, meta={"recorded_by": "chaos.control", "lab": self.lab and self.lab.name,
                                                 "title": self.experiment.get("title")})
        if _flag(self.configuration, "aftershock_collect", True):
            self._start_collecting()
        log.info("recording experiment %r into run %s", name, self.run_id)
        return self.run_id

    def _start_collecting(self) -> None:
        if self.lab is not None and self.lab.status.get("engine", "lab") == "lab":  # a target: its Prometheus
            client = ControlClient.for_lab(self.lab.status, timeout_s=2.0)
            interval = float(config_value(self.configuration, "aftershock_scrape_interval_s", 1.0))
            self._collector = EmbeddedCollector(self.store, self.run_id, targets_fn=lambda: targets_from_status(
                client.status()), interval_s=interval)
            self._collector.start()
        self._cpu_thread = threading.Thread(target=self._sample_cpu, name="aftershock-cpu", daemon=True)
        self._cpu_thread.start()

    def _sample_cpu(self) -> None:
        psutil.cpu_percent(interval=None)  # the first reading primes the counter
        flushed = 0
        while not self._cpu_stop.wait(CPU_INTERVAL_S):
            with self._lock:
                self._cpu.append((self.clock(), psutil.cpu_percent(interval=None)))
                batch = self._cpu[flushed:]
            if len(batch) >= 10:  # live views see the load every ten seconds
                self._safe(self.store.put_machine_load, self.run_id, batch)
                flushed += len(batch)

    # ------------------------------------------------------------------ hooks
    def set_phase(self, phase: str) -> None:
        """experiment, hypothesis, method, after-method, rollback or done: tells activities apart."""
        if phase == "method":
            self._method_seen = True
        self.phase = phase

    def before_hypothesis(self) -> None:
        self._hypothesis_start = self.clock()
        self.set_phase("hypothesis")

    def after_hypothesis(self, hypothesis: Mapping[str, Any], state: Mapping[str, Any] | None) -> None:
        when = self._when()
        self.set_phase("experiment")
        met = (state or {}).get("steady_state_met")
        self._add({"name": str(hypothesis.get("title") or "steady-state hypothesis"), "type": "hypothesis",
                   "start": self._hypothesis_start, "end": self.clock(),
                   "status": "met" if met else "not met" if met is False else "skipped",
                   "detail": {"when": when, "probes": [
                       {"name": p.get("activity", {}).get("name"), "output": _summary(p.get("output")),
                        "tolerance_met": p.get("tolerance_met")} for p in (state or {}).get("probes", [])]}})

    def before_activity(self, activity: Mapping[str, Any]) -> None:
        if self.phase == "method" and activity.get("type") == "action" and self.injected_at is None:
            self.injected_at = self.clock()  # provisional, so a live view shades the fault at once
            self._safe(self.store.update_run, self.run_id, injected_at=self.injected_at)

    def after_activity(self, activity: Mapping[str, Any], run: Mapping[str, Any] | None) -> None:
        run = run or {}
        kind = str(activity.get("type", "action"))
        if self.phase == "rollback":
            kind = "rollback"
        start, end = _epoch(run.get("start")), _epoch(run.get("end"))
        if self.phase == "method" and activity.get("type") == "action" and start is not None:
            with self._lock:
                first = not any(a["type"] == "action" for a in self.timeline)
            if first:
                self.injected_at = start
                self._safe(self.store.update_run, self.run_id, injected_at=start)
        detail: dict[str, Any] = {"phase": self.phase if self.phase != "hypothesis" else f"hypothesis-{self._when()}",
                                  "output": _summary(run.get("output"))}
        provider = activity.get("provider") or {}
        if provider.get("func"):
            detail["func"] = f"{provider.get('module')}.{provider.get('func')}"
        if provider.get("arguments"):  # the fault windows read their targets from here, as the action got them
            detail["arguments"] = json.loads(json.dumps(self._substituted(provider["arguments"]), default=str))
        if activity.get("pauses"):
            detail["pauses"] = activity["pauses"]
        if run.get("exception"):
            detail["error"] = str(run["exception"][-1]).strip()[:_OUTPUT_CHARS]
        self._add({"name": str(activity.get("name") or "?"), "type": kind if kind in ("action", "probe", "rollback")
                   else "action", "start": start, "end": end, "status": run.get("status"), "detail": detail})

    def _substituted(self, arguments: Any) -> Any:
        """``${key}`` references resolved against the run's configuration, as chaoslib resolves them for the call."""
        try:
            return substitute(arguments, self.configuration, None)
        except Exception as exc:  # noqa: BLE001 - a journal entry is never worth failing the experiment
            log.debug("arguments kept unsubstituted: %s", exc)
            return arguments

    def _when(self) -> str:
        return "after" if self._method_seen else "before"

    def _add(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.timeline.append(entry)
            timeline = list(self.timeline)
        self._safe(self.store.put_timeline, self.run_id, timeline)

    # ------------------------------------------------------------------ end
    def finish(self, journal: Mapping[str, Any] | None) -> str:
        """Stop collecting, heal if needed, attach the logs' slices and the journal, set the final status."""
        if self._finished:
            return self.status or "aborted"
        self._finished = True
        self.status = run_status(journal)
        if self.status == "interrupted" and stop_state(self.settings.home) is not None:
            self.status = "aborted"  # ended by the emergency stop, rollbacks played: aborted, not interrupted
        self._safe(self._safety_heal, journal)
        ended = self.clock()
        self._stop_collecting()
        if self.lab is not None:
            self._safe(self._attach_logs, self.started_at, ended)
        if journal is not None:
            self._safe(self.store.put_journal, self.run_id, dict(journal))
        with self._lock:
            timeline = list(self.timeline)
        self._safe(self.store.put_timeline, self.run_id, timeline)
        self._safe(self._record_windows, timeline, ended)
        if _flag(self.configuration, "aftershock_finish", True):
            self._safe(self.store.finish_run, self.run_id, self.status)
        else:
            self._safe(self.store.flush)
        log.info("run %s recorded: %s", self.run_id, self.status)
        return self.status

    def _record_windows(self, timeline: list[dict[str, Any]], ended: float) -> None:
        """The fault's active window(s), from injection to lift, stored with the run; and the analysis window
        (injection to the end of the run) unless the runner sets its own."""
        assert self.store is not None and self.run_id is not None
        windows = [w.to_dict() for w in fault_windows(timeline)]
        self.store.put_fault_windows(self.run_id, windows)
        run = self.store.get_run(self.run_id)
        if run.get("injected_at") is not None and not (run.get("meta") or {}).get("analysis_window_s"):
            self.store.update_run(self.run_id, meta={
                "analysis_window_s": max(1.0, ended - float(run["injected_at"]))})

    def _safety_heal(self, journal: Mapping[str, Any] | None) -> None:
        if self.lab is None or not _flag(self.configuration, "aftershock_heal_on_exit", True) or journal is None:
            return
        broke = any(r.get("activity", {}).get("type") == "action"
                    and (r.get("activity", {}).get("provider") or {}).get("module") == "chaos.actions"
                    for r in journal.get("run") or [])
        if not broke or journal.get("rollbacks"):
            return
        start = self.clock()
        result = self.lab.client.heal()
        record(self.settings.home, "rollback", actor(), run=self.run_id, lab=self.lab.name, target="all",
               action_name="safety heal (rollbacks not played)")
        log.warning("rollbacks were not played (status %s): healed lab %s", journal.get("status"), self.lab.name)
        self._add({"name": "safety heal (rollbacks not played)", "type": "rollback", "start": start,
                   "end": self.clock(), "status": "succeeded",
                   "detail": {"output": _summary(result), "func": "chaos.actions.heal"}})

    def _stop_collecting(self) -> None:
        if self._collector is not None:
            self._safe(self._collector.stop)
        self._cpu_stop.set()
        if self._cpu_thread is not None:
            self._cpu_thread.join(CPU_INTERVAL_S + 2)
        with self._lock:
            samples = list(self._cpu)
        if samples:
            self._safe(self.store.put_machine_load, self.run_id, samples)

    def _attach_logs(self, start: float, end: float) -> None:
        lab = self.lab
        assert lab is not None and self.store is not None and self.run_id is not None
        path = lab.request_log

        def settled() -> bool:  # the clients log a request when it ends, in batches
            return bool(read_requests_since(path, end, key="ts"))

        try:
            wait_until(settled, LOG_SETTLE_S, interval_s=0.1, what="the request log to reach the run's end")
        except TimeoutError:
            log.warning("request log of lab %s has no request after the run's end; attaching what is there", lab.name)
        rows = read_requests_since(path, start, key="ts", until=end)
        events = read_events_since(lab.event_log, start, end)
        with tempfile.TemporaryDirectory(prefix="aftershock-slice-") as tmp:
            req = Path(tmp) / "requests.csv"
            with open(path, encoding="utf-8", newline="") as fh:
                header = next(csv.reader([fh.readline()]))
            with open(req, "w", encoding="utf-8", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=header)
                writer.writeheader()
                writer.writerows(rows)
            if rows:
                self.store.attach_request_log(self.run_id, req, self.settings.runs_dir)
            else:
                log.warning("no requests in the run's window in lab %s; no request log attached", lab.name)
            ev = Path(tmp) / "events.jsonl"
            ev.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
            result = self.store.attach_event_log(self.run_id, ev, runs_dir=self.settings.runs_dir)
            self._attach_executions(Path(tmp) / "executions.csv", start, end)
        kept = self.settings.runs_dir / self.run_id / "events.jsonl.gz"  # the temporary slice is gone
        self.store.update_run(self.run_id, meta={
            "window": {"start": start, "end": end}, "requests": len(rows),
            "event_log": {"path": str(kept), "source": str(lab.event_log), "stored": result.stored,
                          "skipped": result.skipped}})

    def _attach_executions(self, dest: Path, start: float, end: float) -> None:
        """The slice of the agents' execution log (lab status field ``execution_log``) that ran in the window."""
        lab = self.lab
        assert lab is not None and self.store is not None and self.run_id is not None
        source = Path(str(lab.status.get("execution_log") or ""))
        if not str(source) or not source.is_file():
            log.info("lab %s writes no execution log; the ledger will have the client's side only", lab.name)
            return
        try:
            frame = read_execution_log(source)
        except BadLogFile as exc:
            log.warning("execution log of lab %s unreadable (%s); not attached", lab.name, exc)
            return
        part = frame[(frame["end"] >= start) & (frame["start"] < end + LOG_SETTLE_S)]
        writer = execution_log_writer(dest)
        try:
            writer.write_rows(part.astype(object).where(part.notna(), "").itertuples(index=False, name=None))
        finally:
            writer.close()
        self.store.attach_execution_log(self.run_id, dest, self.settings.runs_dir)

    def close(self) -> None:
        """Finish (as aborted) if nobody did, then close the store."""
        if not self._finished and self.store is not None and self.run_id is not None:
            self.finish(None)
        self._stop_collecting()
        if self.store is not None:
            self._safe(self.store.close)
            self.store = None

    def _safe(self, func: Any, *args: Any, **kwargs: Any) -> Any:
        """Call ``func``; a failure is logged, never raised into the experiment."""
        if func is None:
            return None
        try:
            return func(*args, **kwargs)
        except Exception:
            log.exception("recording control: %s failed (run %s)", getattr(func, "__name__", func), self.run_id)
            return None


# ---------------------------------------------------------------------- Chaos Toolkit control API
_recorder: Recorder | None = None
_interrupts = ExitStack()  # the Ctrl-C handler of the running experiment, restored at cleanup


def current_recorder() -> Recorder | None:
    """The recorder of the experiment running in this process (Chaos Toolkit runs one at a time)."""
    return _recorder


def _call(method: str, *args: Any) -> None:
    recorder = _recorder
    if recorder is None or recorder.store is None:
        return
    try:
        getattr(recorder, method)(*args)
    except Exception:
        log.exception("recording control: %s failed", method)


def configure_control(configuration: dict | None = None, secrets: dict | None = None,
                      experiment: dict | None = None, **_: Any) -> None:
    """Create the run and start collecting (Chaos Toolkit calls this once, before the experiment); from here a
    Ctrl-C that lands inside a finalizer is sent again instead of lost (core.interrupts)."""
    global _recorder
    _interrupts.close()
    _interrupts.enter_context(interrupts_outside_finalizers())
    if _recorder is not None:
        _recorder.close()
    recorder = Recorder(configuration, experiment)
    try:
        recorder.start()
    except Exception:
        log.exception("recording control: could not start recording; the experiment runs unrecorded")
        recorder.close()
        return
    _recorder = recorder


def cleanup_control(**_: Any) -> None:
    """Close the recorder (finishing the run as aborted if the experiment never ended normally)."""
    global _recorder
    recorder, _recorder = _recorder, None
    _interrupts.close()
    lease.release_all()  # the rollbacks ran: the dead-man of each lab can let go of this controller
    if recorder is not None:
        try:
            recorder.close()
        except Exception:
            log.exception("recording control: cleanup failed")


def before_experiment_control(context: dict, **_: Any) -> None:
    _call("set_phase", "experiment")


def after_experiment_control(context: dict, state: dict | None = None, **_: Any) -> None:
    _call("finish", state)


def before_hypothesis_control(context: dict, **_: Any) -> None:
    _call("before_hypothesis")


def after_hypothesis_control(context: dict, state: dict | None = None, **_: Any) -> None:
    _call("after_hypothesis", context, state)


def before_method_control(context: dict, **_: Any) -> None:
    _call("set_phase", "method")


def after_method_control(context: dict, state: Any = None, **_: Any) -> None:
    _call("set_phase", "after-method")


def before_rollback_control(context: dict, **_: Any) -> None:
    _call("set_phase", "rollback")


def after_rollback_control(context: dict, state: Any = None, **_: Any) -> None:
    _call("set_phase", "done")


def before_activity_control(context: dict, **_: Any) -> None:
    _call("before_activity", context)


def after_activity_control(context: dict, state: dict | None = None, **_: Any) -> None:
    _call("after_activity", context, state)
