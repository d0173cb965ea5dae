"""A run store filled from REAL short lab runs, built once per test session for the dashboard tests.

Two labs (decentralized, centralized) run side by side for ~14 s each; at ~5 s one agent node of each is
killed (the injection). Samples are scraped by the embedded collector; the timeline, a journal, the
request log and the event log are attached; both runs form one comparison. Labs are always brought
down (in ``finally``), so only the store remains: tests read it, never the labs.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from collectors.base import targets_from_status
from collectors.embedded import EmbeddedCollector
from core.settings import Settings
from fleet.lab import ControlClient, lab_down, lab_up, list_labs
from fleet.topology import load_topology
from store import RunStore
from tests.support.labutil import wait_for_requests_until

__all__ = ["FilledStore", "build_filled_store", "filled_store_once", "TOPOLOGIES", "EXPERIMENT"]

TOPOLOGIES = ("centralized", "decentralized")
EXPERIMENT = "node-loss"
WARMUP_S = 5.0
AFTER_S = 7.0
HOSTILE_TITLE = '<script>alert("x")</script> node loss'


@dataclass
class FilledStore:
    settings: Settings
    comparison_id: str
    run_ids: dict[str, str]
    running_run_id: str
    lab_statuses: dict[str, dict[str, Any]] = field(default_factory=dict)


def _victim(status: dict[str, Any]) -> str:
    return next(n["name"] for n in status["nodes"] if n["role"] == "agent" and n["alive"])


def _record_one(settings: Settings, store: RunStore, cid: str, topology: str, out: dict[str, Any]) -> None:
    status = lab_up(settings, topology, seed=1)
    out["lab"] = status["name"]
    control = ControlClient.for_lab(status, timeout_s=10)
    run_id = store.create_run(experiment=EXPERIMENT, topology=topology, comparison_id=cid, settings={
        "topology": load_topology(topology).model_dump(mode="json"), "lab": status["name"], "experiment": EXPERIMENT,
        "analysis_window_s": AFTER_S - 1.0, "seed": 1})
    out["run_id"] = run_id
    collector = EmbeddedCollector(store, run_id, targets_fn=lambda: targets_from_status(control.status()),
                                  interval_s=0.5)
    start = time.time()
    collector.start()
    try:
        time.sleep(WARMUP_S)  # the run's own schedule (warm-up before the fault), not a synchronisation
        victim = _victim(status)
        injected = time.time()
        control.kill_node(victim)
        store.update_run(run_id, injected_at=injected)
        out["status_after_kill"] = control.status()
        time.sleep(max(0.0, injected + AFTER_S - time.time()))
    finally:
        collector.stop()
    end = time.time()
    wait_for_requests_until(status["request_log"], end, timeout_s=15)
    store.put_timeline(run_id, [
        {"name": "steady state: availability above 0.9", "type": "probe", "start": start + 1, "end": start + 1.2,
         "status": "succeeded", "detail": {}},
        {"name": f"kill-node {victim}", "type": "action", "start": injected, "end": injected + 0.05,
         "status": "succeeded", "detail": {"node": victim}},
        {"name": "steady state: availability above 0.9", "type": "probe", "start": end - 0.5, "end": end - 0.3,
         "status": "succeeded", "detail": {}},
    ])
    probe = {"activity": {"name": "availability above 0.9", "type": "probe"}, "output": 0.97,
             "status": "succeeded", "tolerance_met": True}
    store.put_journal(run_id, {"experiment": {"title": HOSTILE_TITLE}, "status": "completed",
                               "steady_states": {"before": {"steady_state_met": True, "probes": [probe]},
                                                 "after": {"steady_state_met": True, "probes": [probe]}}})
    store.attach_request_log(run_id, Path(status["request_log"]), settings.runs_dir)
    store.attach_event_log(run_id, Path(status["event_log"]), runs_dir=settings.runs_dir)
    store.finish_run(run_id, "completed")


def build_filled_store(home: Path) -> FilledStore:
    """Record both topologies concurrently (one thread each); labs down in ``finally``."""
    settings = Settings(home=home).ensure()
    results: dict[str, dict[str, Any]] = {t: {} for t in TOPOLOGIES}
    errors: list[BaseException] = []
    store = RunStore.open(settings.store_dir)
    try:
        cid = store.create_comparison(EXPERIMENT, title=HOSTILE_TITLE)

        def work(topology: str) -> None:
            try:
                _record_one(settings, store, cid, topology, results[topology])
            except BaseException as exc:  # re-raised in the main thread below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,), daemon=True) for t in TOPOLOGIES]
        try:
            for th in threads:
                th.start()
            for th in threads:
                th.join(timeout=120)
        finally:
            running = {s["name"] for s in list_labs(settings)}
            for r in results.values():
                if r.get("lab") in running:
                    lab_down(settings, r["lab"])
        if errors:
            raise errors[0]
        # a run still going (its writer, this process, is alive): what the Live page lists
        running_id = store.create_run(experiment=EXPERIMENT, topology="hybrid",
                                      settings={"lab": "no-such-lab", "experiment": EXPERIMENT})
        store.flush()
    finally:
        store.close()
    (home / "lab_statuses.json").write_text(json.dumps({t: r.get("status_after_kill") for t, r in results.items()}))
    return FilledStore(settings, cid, {t: r["run_id"] for t, r in results.items()}, running_id,
                       {t: r.get("status_after_kill") or {} for t, r in results.items()})


_CACHE: dict[str, FilledStore] = {}
_LOCK = threading.Lock()


def filled_store_once(base: Path) -> FilledStore:
    """Build the store the first time any test module asks for it; later calls reuse it."""
    with _LOCK:
        if "store" not in _CACHE:
            _CACHE["store"] = build_filled_store(base / "home")
        return _CACHE["store"]
