"""The fault's active window(s), from the recorded activity timeline, and recovery classified against them.

Why a window and not only the injection time: a recovery that comes after the rollback restored what the fault
broke is the rollback's, not the deployment's. The window runs from the injecting action's start to the start of
the activity that lifts it (a rollback, restore or heal: recovery from the moment the lift begins is credited to
the lift, never to the deployment), or to the end of a timed action (a crash loop, churn). Several faults in one
experiment: each window is kept, and "the fault is active" means inside their union. See docs/analysis.md.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "INJECTIONS",
    "LIFTS",
    "RECOVERY_CLASSES",
    "FaultWindow",
    "RecoveryClass",
    "LIFT_EVENTS",
    "EFFECTS",
    "confirmed_by_events",
    "fault_windows",
    "lifted_by_events",
    "windows_from_dicts",
    "union",
    "active_seconds",
    "classify_recovery",
    "recovery_text",
    "fmt_duration",
]

#: injecting actions of chaos.actions -> the family of what they break
INJECTIONS: dict[str, str] = {
    "kill_region": "region",
    "kill_node": "node",
    "kill_agent": "agent",
    "partition_regions": "partition",
    "add_latency": "latency",
    "add_loss": "loss",
    "pause_node": "pause",
    "stress_node": "stress",
    "churn": "churn",
    "surge_load": "load",
}
#: lifting actions -> the families they lift (``heal`` lifts everything)
LIFTS: dict[str, frozenset[str]] = {
    "restore_region": frozenset({"region", "node"}),
    "heal_links": frozenset({"partition", "latency", "loss"}),
    "resume_node": frozenset({"pause"}),
    "relieve_node": frozenset({"stress"}),
    "end_surge": frozenset({"load"}),
    "heal": frozenset(INJECTIONS.values()),
}
_MODULE = "chaos.actions"
#: event-log kinds of a lift that no activity of the experiment recorded: the lab's dead-man reverting the faults
#: of a controller that died, a fault past its maximum duration, the emergency stop
LIFT_EVENTS = {"deadman_healed": "the dead-man healed the lab", "fault_expired": "the fault expired",
               "stop_healed": "the emergency stop healed the lab"}

#: ``self_healed``: back while the fault was still active (TTR 0 when a recorded fault never moved availability:
#: absorbed); ``recovered_after_lift``: back only after the lift; ``not_recovered``: never back in the window
#: (censored); ``no_impact``: no impact and no fault recorded (a control run); ``no_data``: nothing after injection;
#: ``recovered_unattributed``: back, but no fault window was recorded to tell which of the first two it was.
RECOVERY_CLASSES = ("self_healed", "recovered_after_lift", "not_recovered", "no_impact", "no_data",
                    "recovered_unattributed")


@dataclass(frozen=True)
class FaultWindow:
    """One fault's active window [start, end) in Unix seconds; ``end`` None = never lifted in the record."""

    name: str
    action: str
    family: str
    start: float
    end: float | None
    lifted_by: str | None
    targets: tuple[str, ...] = ()
    timed: bool = False
    what: str = ""
    lift_phrase: str = ""
    unconfirmed: bool = False  # the injecting action reported a failure: a fault only if the event log shows one

    @property
    def duration_s(self) -> float | None:
        return None if self.end is None else max(0.0, self.end - self.start)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the store and the JSON summary."""
        out = asdict(self)
        out["targets"] = list(self.targets)
        out["duration_s"] = self.duration_s
        return out


def windows_from_dicts(items: Iterable[Mapping[str, Any]] | None) -> tuple[FaultWindow, ...]:
    """Windows back from their stored dicts (``FaultWindow.to_dict``); unknown keys are ignored."""
    out = []
    for d in items or ():
        out.append(FaultWindow(
            name=str(d.get("name") or "?"), action=str(d.get("action") or "?"), family=str(d.get("family") or "?"),
            start=float(d["start"]), end=None if d.get("end") is None else float(d["end"]),
            lifted_by=d.get("lifted_by"), targets=tuple(str(t) for t in d.get("targets") or ()),
            timed=bool(d.get("timed")), what=str(d.get("what") or ""), lift_phrase=str(d.get("lift_phrase") or ""),
            unconfirmed=bool(d.get("unconfirmed"))))
    return tuple(out)


# ---- from the timeline -------------------------------------------------------------------------------
def _func(activity: Mapping[str, Any]) -> str | None:
    detail = activity.get("detail") or {}
    func = str(detail.get("func") or "")
    module, _, name = func.rpartition(".")
    return name if module == _MODULE else None


def _output(activity: Mapping[str, Any]) -> dict[str, Any]:
    raw = (activity.get("detail") or {}).get("output")
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:  # the recorder truncates long outputs
        return {}
    return value if isinstance(value, dict) else {}


def _as_list(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list | tuple):
        return [str(v) for v in value if v not in (None, "")]
    return [str(value)]


def _targets(action: str, activity: Mapping[str, Any]) -> tuple[str, ...]:
    args = (activity.get("detail") or {}).get("arguments") or {}
    out = _output(activity)
    found: list[str] = []
    if action in ("kill_region", "restore_region"):
        found = _as_list(out.get("regions")) or _as_list(args.get("region"))
    elif action in ("kill_node",):
        found = _as_list(out.get("killed")) or _as_list(args.get("name"))
    elif action == "kill_agent":
        found = _as_list(out.get("agents")) or _as_list(args.get("agent"))
    elif action == "pause_node":
        found = _as_list(out.get("paused")) or _as_list(args.get("name"))
    elif action == "stress_node":
        found = _as_list(out.get("stressed")) or _as_list(args.get("name"))
    elif action in ("resume_node", "relieve_node"):
        found = _as_list(out.get("resumed") or out.get("relieved")) or _as_list(args.get("name"))
    elif action == "partition_regions":
        found = _as_list(args.get("region"))
    elif action == "churn":
        found = _as_list(out.get("killed"))
    return tuple(dict.fromkeys(found))


def _names(targets: Sequence[str], singular: str, plural: str) -> tuple[str, bool]:
    if not targets:
        return singular, False
    if len(targets) <= 3:
        return " and ".join(targets) if len(targets) == 2 else ", ".join(targets), len(targets) > 1
    return f"{len(targets)} {plural}", True


def _what(action: str, targets: Sequence[str], activity: Mapping[str, Any], timed: bool) -> str:
    args = (activity.get("detail") or {}).get("arguments") or {}
    if action == "kill_region":
        who, many = _names(targets, "the region", "regions")
        return f"{who} {'were' if many else 'was'} dark"
    if action == "kill_node":
        who, many = _names(targets, "a node", "nodes")
        return f"{who} {'were' if many else 'was'} down"
    if action == "kill_agent":
        who, many = _names(targets, "an agent", "agents")
        return f"{who} {'were' if many else 'was'} {'crash-looping' if timed else 'down'}"
    if action == "partition_regions":
        who, many = _names(targets, "a region", "regions")
        return f"{who} {'were' if many else 'was'} cut off"
    if action == "add_latency":
        extra = args.get("latency_ms")
        return f"the links were slow (+{_num(extra):g} ms)" if _num(extra) is not None else "the links were slow"
    if action == "add_loss":
        loss = args.get("loss")
        return (f"the links dropped {100 * _num(loss):g} % of requests" if _num(loss) is not None
                else "the links were lossy")
    if action == "pause_node":
        who, many = _names(targets, "a node", "nodes")
        return f"{who} {'were' if many else 'was'} frozen"
    if action == "stress_node":
        who, many = _names(targets, "a node", "nodes")
        return f"{who} {'were' if many else 'was'} starved of CPU"
    if action == "churn":
        return "nodes were churning"
    if action == "surge_load":
        factor = args.get("factor")
        return f"the clients asked {_num(factor):g}x the load" if _num(factor) is not None else "the load surged"
    return f"the fault ({activity.get('name') or action}) was active"


def _num(value: Any) -> float | None:
    """A numeric argument as journalled; None when it is not a number (e.g. a ``${configuration}`` reference the
    journal kept unsubstituted), so the sentence falls back to words instead of failing the whole analysis."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _lift_phrase(lift: str | None, window_action: str, many: bool) -> str:
    it = "they" if many else "it"
    return {
        "restore_region": "the restore began",
        "heal": "the heal began",
        "heal_links": "the links' heal began",
        "resume_node": f"{it} {'were' if many else 'was'} resumed",
        "relieve_node": f"{it} got the CPU back",
        "end_surge": "the surge ended",
        "timed": f"the {window_action.replace('_', ' ')} ended",
    }.get(lift or "", "the fault was lifted")


def _is_timed(action: str, activity: Mapping[str, Any]) -> bool:
    if action == "churn":
        return True
    args = (activity.get("detail") or {}).get("arguments") or {}
    try:
        return action == "kill_agent" and int(args.get("times", 1)) > 1
    except (TypeError, ValueError):
        return False


def _lift_matches(lift_action: str, lift_targets: Sequence[str], window: dict[str, Any]) -> bool:
    if window["family"] not in LIFTS.get(lift_action, frozenset()):
        return False
    if lift_action == "restore_region" and window["family"] == "node":
        return True  # nodes are named, regions restored: a restore restarts every killed node of its region
    if lift_targets and window["targets"]:
        return bool(set(lift_targets) & set(window["targets"]))
    return True


def fault_windows(timeline: Iterable[Mapping[str, Any]]) -> tuple[FaultWindow, ...]:
    """The fault windows of a recorded activity timeline (chaos/control.py's entries), in start order.

    Injections are actions of ``chaos.actions`` listed in :data:`INJECTIONS`; a window ends at the start of the
    first later action of :data:`LIFTS` that covers its family (and, when both name targets, shares one), or at
    the end of a timed action (``churn``; ``kill_agent`` with ``times`` > 1). Activities of other modules are
    not faults. An injection that reported a failure with no output is kept ``unconfirmed``: the event log settles
    it (:func:`confirmed_by_events`).
    """
    acts = sorted((a for a in timeline if a.get("start") is not None), key=lambda a: float(a["start"]))
    open_: list[dict[str, Any]] = []
    done: list[dict[str, Any]] = []
    for act in acts:
        action = _func(act)
        if action is None or act.get("type") not in ("action", "rollback"):
            continue
        start = float(act["start"])
        if action in LIFTS:
            targets = _targets(action, act)
            for w in [w for w in open_ if w["start"] <= start and _lift_matches(action, targets, w)]:
                w.update(end=start, lifted_by=act.get("name"), lift=action)
                open_.remove(w)
                done.append(w)
            continue
        if action not in INJECTIONS or act.get("type") == "rollback":
            continue
        timed = _is_timed(action, act)
        w = {"name": str(act.get("name") or action), "action": action, "family": INJECTIONS[action],
             "start": start, "end": None, "lifted_by": None, "lift": None,
             "targets": _targets(action, act), "timed": timed, "act": act,
             "unconfirmed": act.get("status") == "failed" and not _output(act)}
        if timed and act.get("end") is not None:
            w.update(end=float(act["end"]), lifted_by=w["name"], lift="timed")
            done.append(w)
        else:
            open_.append(w)
    out = []
    for w in sorted(done + open_, key=lambda w: (w["start"], w["name"])):
        many = len(w["targets"]) > 1
        out.append(FaultWindow(
            name=w["name"], action=w["action"], family=w["family"], start=w["start"], end=w["end"],
            lifted_by=w["lifted_by"], targets=tuple(w["targets"]), timed=w["timed"],
            what=_what(w["action"], w["targets"], w["act"], w["timed"]),
            lift_phrase=_lift_phrase(w["lift"], w["action"], many) if w["end"] is not None else "",
            unconfirmed=w["unconfirmed"]))
    return tuple(out)


#: event-log kinds that show a fault of each family took effect
EFFECTS: dict[str, frozenset[str]] = {
    "region": frozenset({"region_killed", "node_killed"}), "node": frozenset({"node_killed"}),
    "agent": frozenset({"agent_killed"}), "partition": frozenset({"link_changed"}),
    "latency": frozenset({"link_changed"}), "loss": frozenset({"link_changed"}),
    "pause": frozenset({"node_paused"}), "stress": frozenset({"node_throttled"}), "churn": frozenset({"node_killed"}),
}


def confirmed_by_events(windows: Sequence[FaultWindow], events: Iterable[Mapping[str, Any]]
                        ) -> tuple[FaultWindow, ...]:
    """Settle the windows whose injecting action reported a failure (a control API timing out on a busy machine
    may still have done it, late): kept from the first event of its effect before its lift, dropped when the
    event log shows none. Confirmed windows pass unchanged."""
    seen = sorted((float(e["ts"]), str(e["kind"])) for e in events)
    out = []
    for w in windows:
        if not w.unconfirmed:
            out.append(w)
            continue
        hit = next((ts for ts, kind in seen if kind in EFFECTS.get(w.family, frozenset()) and ts >= w.start
                    and (w.end is None or ts < w.end)), None)
        if hit is not None:
            out.append(FaultWindow(w.name, w.action, w.family, hit, w.end, w.lifted_by, w.targets, w.timed, w.what,
                                   w.lift_phrase, unconfirmed=False))
    return tuple(out)


def lifted_by_events(windows: Sequence[FaultWindow], events: Iterable[Mapping[str, Any]]) -> tuple[FaultWindow, ...]:
    """End the windows that a lift of the lab itself (:data:`LIFT_EVENTS`) ended before their recorded lift."""
    lifts = sorted((float(e["ts"]), str(e["kind"])) for e in events if str(e.get("kind")) in LIFT_EVENTS)
    out = []
    for w in windows:
        hit = next(((ts, kind) for ts, kind in lifts if ts >= w.start and (w.end is None or ts < w.end)), None)
        if hit is None:
            out.append(w)
        else:
            out.append(FaultWindow(w.name, w.action, w.family, w.start, hit[0], hit[1], w.targets, w.timed, w.what,
                                   LIFT_EVENTS[hit[1]], w.unconfirmed))
    return tuple(out)


# ---- union and classification ------------------------------------------------------------------------
def union(windows: Iterable[FaultWindow], until: float | None = None) -> list[tuple[float, float]]:
    """The merged [start, end) intervals of the windows; an open window runs to ``until`` (or +inf)."""
    spans = sorted((w.start, w.end if w.end is not None else (until if until is not None else math.inf))
                   for w in windows)
    merged: list[list[float]] = []
    for s, e in spans:
        if e < s:
            continue
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


def active_seconds(windows: Iterable[FaultWindow], until: float | None = None) -> float | None:
    """Seconds the fault was active (the union's length); None when a window is open and ``until`` unknown."""
    spans = union(windows, until)
    total = sum(e - s for s, e in spans)
    return None if math.isinf(total) else total


@dataclass(frozen=True)
class RecoveryClass:
    """How a run recovered, against its fault windows (times in Unix seconds, durations in seconds)."""

    kind: str
    t1: float | None
    lift_at: float | None
    ttr_s: float | None  # from injection; only when self-healed
    ttr_after_lift_s: float | None
    returned_s: float | None  # t1 - t0 whatever brought availability back
    fault_s: float | None  # how long the fault was active (union), within the data
    windows: tuple[FaultWindow, ...] = field(default_factory=tuple)
    impact: bool = True  # False: availability never left its baseline (a fault absorbed, or no fault)

    @property
    def recovered(self) -> bool:
        return self.kind in ("self_healed", "recovered_after_lift", "recovered_unattributed", "no_impact")


def classify_recovery(t0: float, t1: float | None, windows: Sequence[FaultWindow] | None, *, impact: bool,
                      has_data: bool = True, data_end: float | None = None) -> RecoveryClass:
    """Classify a run's recovery: ``t1`` (the time availability was back for good, None = never) against the
    union of the fault windows; ``data_end`` bounds open windows (the fault still active when the data ends).

    ``windows`` None: none was recorded (a recovery cannot be attributed); empty: recorded, and no fault was
    injected (a control run), so whatever recovery there was is the deployment's own."""
    recorded = windows is not None
    windows = tuple(windows or ())
    fault_s = active_seconds(windows, data_end) if windows else None
    fault_s = None if fault_s is None else round(fault_s, 6)
    if not has_data:
        return RecoveryClass("no_data", None, None, None, None, None, fault_s, tuple(windows))
    if not impact:
        # a recorded fault that never moved availability was absorbed: healed at once (TTR 0), by itself
        kind = "self_healed" if windows else "no_impact"
        return RecoveryClass(kind, t0, None, 0.0, None, 0.0, fault_s, tuple(windows), impact=False)
    if t1 is None:
        return RecoveryClass("not_recovered", None, None, None, None, None, fault_s, tuple(windows))
    returned = round(t1 - t0, 6)
    if not recorded:
        return RecoveryClass("recovered_unattributed", t1, None, None, None, returned, fault_s, ())
    if not windows:  # nothing was lifted: the deployment came back by itself (noise, in a control run)
        return RecoveryClass("self_healed", t1, None, returned, None, returned, None, ())
    spans = union(windows)
    if t1 < spans[0][0] or any(s <= t1 < e for s, e in spans):
        return RecoveryClass("self_healed", t1, None, returned, None, returned, fault_s, tuple(windows))
    lift = max(e for s, e in spans if e <= t1)
    return RecoveryClass("recovered_after_lift", t1, lift, None, round(t1 - lift, 6), returned, fault_s,
                         tuple(windows))


def fmt_duration(seconds: float | None) -> str:
    """Seconds for a sentence: 0.4 s, 12 s, 3 min 05 s."""
    if seconds is None:
        return "?"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 120:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    return f"{minutes} min {rest:02d} s"


def _fault_phrase(windows: Sequence[FaultWindow], fault_s: float | None) -> str:
    whats = list(dict.fromkeys(w.what for w in windows if w.what))
    what = " and ".join(whats) if whats else "the fault was active"
    return f"{what} ({fmt_duration(fault_s)})" if fault_s is not None else what


def recovery_text(rc: RecoveryClass, *, window_s: float | None = None, mechanism: str | None = None) -> str:
    """The recovery in words, the same sentence in the CLI, the dashboard and every report."""
    how = f" ({mechanism})" if mechanism else ""
    if rc.kind == "no_data":
        return "no requests after the injection: nothing to judge"
    if rc.kind == "no_impact":
        return "no impact: availability stayed at its baseline"
    if rc.kind == "recovered_unattributed":
        return (f"recovered {fmt_duration(rc.returned_s)} after the injection{how}; no fault window was recorded, "
                "so self-healing cannot be told from the lift")
    fault = _fault_phrase(rc.windows, rc.fault_s)
    if rc.kind == "self_healed" and not rc.windows:
        return f"no fault injected; a dip recovered by itself {fmt_duration(rc.ttr_s)} after t0{how}"
    if rc.kind == "self_healed" and not rc.impact:
        return f"absorbed the fault{how}: availability never left its baseline while {fault}"
    if rc.kind == "self_healed":
        return f"recovered by itself {fmt_duration(rc.ttr_s)} after the injection{how}, while {fault}"
    if rc.kind == "recovered_after_lift":
        lifted = [w for w in rc.windows if w.end is not None and rc.lift_at is not None and w.end <= rc.lift_at]
        phrase = (lifted[-1].lift_phrase if lifted else "") or "the fault was lifted"
        return (f"did not recover while {fault}; recovered {fmt_duration(rc.ttr_after_lift_s)} after {phrase}")
    within = f" within the {fmt_duration(window_s)} window" if window_s else ""
    if rc.windows and all(w.end is not None for w in rc.windows):
        return f"did not recover while {fault}, nor after the lift{within}"
    if rc.windows:
        return f"did not recover while {fault}{within}; the fault was not lifted in the record"
    return f"did not recover{within}"
