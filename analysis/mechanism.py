"""How a run recovered, from the event log and the request log, and the physical bound of that mechanism.

Why per mechanism: a bound belongs to a way of recovering. A restart can never beat detection + restart delay, a
replacement spawned by peers never beats detection + the healing delay (+ spawn and warm-up), a warm standby never
beats its failover delay; a client failover can be immediate after a refused connection, and after a silent
endpoint (frozen, partitioned, black-holed) no sooner than the client's timeout. Judging a failover by the
restart bound flags a true measurement as impossible (hybrid's 0 s failover next to a 4.2 s "minimum"); judging a
restart by the failover bound lets a wrong clock through. A run without impact gets no bound check, nor does a
recovery that came from lifting the fault.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from analysis.bounds import DetectionBound
from analysis.faults import RecoveryClass

__all__ = ["MECHANISMS", "SILENT_FAMILIES", "LIFT_ACTORS", "MechanismBounds", "Mechanism", "agent_nodes",
           "identify_mechanism", "mechanism_bound"]

MECHANISMS = ("failover", "restart", "replacement", "standby_takeover", "lift", "none")
#: fault families after which the client notices a dead endpoint only by a timeout
SILENT_FAMILIES = frozenset({"pause", "partition", "loss"})
#: ``by`` of restarts that are the experiment's lift, not the deployment's own healing
LIFT_ACTORS = frozenset({"restore", "heal", "", "None"})
_RESTARTS = ("node_restarted", "agent_restarted")


@dataclass(frozen=True)
class MechanismBounds:
    """What the bounds of the mechanisms are built from (None where the topology does not say)."""

    detection: DetectionBound | None = None
    restart_delay_s: float | None = None
    failover_delay_s: float | None = None
    client_timeout_s: float | None = None
    spawn_s: float = 0.0


@dataclass(frozen=True)
class Mechanism:
    """The mechanism a recovery is attributed to, its bound and whether the measurement beats it.

    ``violated`` None: no check (no impact, not recovered, lifted, or the bound is unknown).
    """

    kind: str
    evidence: str
    bound_s: float | None
    rule: str | None
    measured_s: float | None
    violated: bool | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def agent_nodes(executions: pd.DataFrame | None) -> dict[str, str]:
    """agent -> node, from the agents' execution log (empty without one)."""
    if executions is None or executions.empty:
        return {}
    pairs = executions[["agent", "node"]].astype(str).drop_duplicates("agent", keep="last")
    return dict(zip(pairs["agent"], pairs["node"], strict=True))


def _node_of(agent: str, mapping: Mapping[str, str], nodes: Iterable[str]) -> str | None:
    if agent in mapping:
        return mapping[agent]
    for node in nodes:  # lab agent ids are "<node>-a<k>"
        if agent.startswith(f"{node}-"):
            return node
    return None


def mechanism_bound(kind: str, bounds: MechanismBounds, families: Iterable[str]) -> tuple[float | None, str]:
    """(bound in seconds, the rule in words) of a mechanism; None when the topology does not give it."""
    det = bounds.detection
    if kind == "failover":
        if set(families) & SILENT_FAMILIES:
            if bounds.client_timeout_s is None:
                return None, "a silent endpoint is given up after the client's timeout (unknown here)"
            return bounds.client_timeout_s, (f"a silent endpoint is given up only when a request to it times out "
                                             f"(client timeout {bounds.client_timeout_s:g} s)")
        return 0.0, "a refused connection fails over at once"
    if kind == "restart":
        if det is None or bounds.restart_delay_s is None:
            return None, "detection + restart delay (unknown here)"
        return det.best_s + bounds.restart_delay_s, (f"detection ({det.kind}, at best {det.best_s:g} s) + restart "
                                                     f"delay {bounds.restart_delay_s:g} s")
    if kind == "replacement":
        if det is None or bounds.restart_delay_s is None:
            return None, "detection + spawn + warm-up (unknown here)"
        value = det.best_s + bounds.restart_delay_s + bounds.spawn_s
        return value, (f"detection ({det.kind}, at best {det.best_s:g} s) + healing delay "
                       f"{bounds.restart_delay_s:g} s + spawn and warm-up {bounds.spawn_s:g} s")
    if kind == "standby_takeover":
        if bounds.failover_delay_s is None:
            return None, "the standby's failover delay (unknown here)"
        return bounds.failover_delay_s, f"the standby's failover delay {bounds.failover_delay_s:g} s"
    return None, ""


def _detail(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def identify_mechanism(
    rc: RecoveryClass,
    t0: float,
    *,
    events: pd.DataFrame | None,
    requests: pd.DataFrame | None,
    executions: pd.DataFrame | None = None,
    bounds: MechanismBounds = MechanismBounds(),
    sustain_s: float = 10.0,
    tolerance_s: float = 0.1,
    time_col: str = "end",
) -> Mechanism:
    """Attribute a recovery to a mechanism and check it against that mechanism's bound.

    Self-healed: the latest orchestrator restart (``node_restarted``/``agent_restarted`` not by the lift),
    replacement (``node_migrated``) or standby takeover (``hub_failover``) in [t0, t1] whose node serves some of the
    successes of [t1, t1 + W) explains the recovery; none: the survivors carried the load, a failover (by the
    clients or a gateway retrying another agent).
    """
    families = {w.family for w in rc.windows}
    if rc.kind in ("no_impact", "no_data", "not_recovered"):
        why = {"no_impact": "no impact: nothing to recover from", "no_data": "no data after the injection",
               "not_recovered": "did not recover"}[rc.kind]
        return Mechanism("none", why, None, None, None, None)
    if rc.kind == "recovered_after_lift":
        return Mechanism("lift", f"availability came back {rc.ttr_after_lift_s:.1f} s after the fault was lifted",
                         None, "no bound: the experiment, not the deployment, ended the outage",
                         rc.ttr_after_lift_s, None)
    t1 = float(rc.t1 if rc.t1 is not None else t0)
    measured = rc.ttr_s if rc.ttr_s is not None else rc.returned_s
    if not rc.impact:
        return _absorbed(t0, requests, sustain_s, time_col)
    candidates: list[tuple[float, str, set[str], str]] = []
    if events is not None and not events.empty:
        ts = events["ts"].to_numpy(dtype=float)
        sel = events[(ts >= t0) & (ts <= t1 + 1e-6)]
        for row in sel.itertuples(index=False):
            kind, by = str(row.kind), str(getattr(row, "by", "") or "")
            if kind in _RESTARTS and by not in LIFT_ACTORS:
                candidates.append((float(row.ts), "restart", {str(row.node)}, f"{row.node} restarted by {by}"))
            elif kind == "node_migrated":
                new = str(_detail(getattr(row, "detail", None)).get("replacement") or "")
                candidates.append((float(row.ts), "replacement", {new} if new else set(),
                                   f"{new or 'a replacement'} spawned by {by or 'a peer'} for {row.node}"))
            elif kind == "hub_failover":
                candidates.append((float(row.ts), "standby_takeover", set(), f"{row.node} took over from the primary"))
    served: dict[str, int] = {}
    retried = 0
    n_ok = 0
    if requests is not None and not requests.empty:
        t = requests[time_col].to_numpy(dtype=float)
        ok = requests["outcome"].astype(str).to_numpy() == "ok"
        after = requests[(t >= t1) & (t < t1 + sustain_s) & ok]
        n_ok = len(after)
        nodes = {n for _, _, ns, _ in candidates for n in ns}
        mapping = agent_nodes(executions)
        for agent, count in after["agent"].astype(str).value_counts().items():
            node = _node_of(agent, mapping, nodes)
            if node is not None:
                served[node] = served.get(node, 0) + int(count)
        during = requests[(t >= t0) & (t < t1 + sustain_s)]
        if "attempts" in during.columns:
            retried = int((pd.to_numeric(during["attempts"], errors="coerce").fillna(1).to_numpy() > 1).sum())
    for ts_, kind, nodes, what in sorted(candidates, key=lambda c: c[0], reverse=True):
        share = sum(served.get(n, 0) for n in nodes) / n_ok if n_ok else 0.0
        if kind == "standby_takeover" or share > 0:
            bound, rule = mechanism_bound(kind, bounds, families)
            evidence = f"{what} at +{ts_ - t0:.1f} s" + (f", serving {share:.0%} of the successes after recovery"
                                                          if kind != "standby_takeover" else "")
            return _checked(kind, evidence, bound, rule, measured, tolerance_s)
    bound, rule = mechanism_bound("failover", bounds, families)
    healers = f"; {len(candidates)} restart/replacement event(s) before recovery served none of it" if candidates \
        else ""
    evidence = (f"the survivors carried the load: {n_ok} successes in the {sustain_s:g} s after recovery, "
                f"{retried} requests retried on another endpoint{healers}")
    return _checked("failover", evidence, bound, rule, measured, tolerance_s)


def _checked(kind: str, evidence: str, bound: float | None, rule: str, measured: float | None,
             tolerance_s: float) -> Mechanism:
    violated = None
    if bound is not None and measured is not None:
        violated = bool(np.float64(measured) < bound - tolerance_s)
    return Mechanism(kind, evidence, bound, rule, measured, violated)


def _absorbed(t0: float, requests: pd.DataFrame | None, sustain_s: float, time_col: str) -> Mechanism:
    """A fault that never moved availability: failover when requests were retried elsewhere; no bound check."""
    retried = 0
    if requests is not None and not requests.empty and "attempts" in requests.columns:
        t = requests[time_col].to_numpy(dtype=float)
        during = requests[(t >= t0) & (t < t0 + sustain_s)]
        retried = int((pd.to_numeric(during["attempts"], errors="coerce").fillna(1).to_numpy() > 1).sum())
    if retried:
        return Mechanism("failover", f"no impact: {retried} requests retried on another endpoint in the "
                         f"{sustain_s:g} s after the injection absorbed the fault", None,
                         "no bound check: a run without impact", 0.0, None)
    return Mechanism("none", "no impact: no request needed another endpoint", None, None, 0.0, None)
