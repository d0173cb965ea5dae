"""Target selection: which nodes, agents, regions or links an action would break, as pure functions.

Why pure: the same code decides what a real action breaks and what a dry run (or the runner's plan
view) says it *would* break, so the two cannot disagree. Every function takes the lab status
(docs/contracts.md) and returns plain dicts; nothing here talks to the lab.

Blast radius is explicit: ``count`` or ``percent`` of the matching targets, drawn at random with
``seed`` (same status + same seed = same victims). With neither, a named target means exactly the
named ones, and an unnamed selection means one target, never "everything that matches".
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from chaos.library import activities
from core.errors import ExperimentError

__all__ = [
    "ROLES",
    "as_names",
    "blast_radius",
    "node_candidates",
    "agent_candidates",
    "select_nodes",
    "select_agents",
    "select_regions",
    "link_pairs",
    "paused_nodes",
    "describe_targets",
    "plan_experiment",
]

ROLES = ("agent", "hub")
#: Actions of chaos.actions and the kind of target each one selects (for plans and dry runs).
_NODE_ACTIONS = {"kill_node", "pause_node", "stress_node"}
_LINK_ACTIONS = {"partition_regions", "add_latency", "add_loss", "heal_links"}


def as_names(value: str | Iterable[str] | None) -> list[str]:
    """``"a"``, ``"a,b"`` or ``["a", "b"]`` as a list of names; None as an empty list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [str(v) for v in value]


def _check_role(role: str | None) -> None:
    if role is not None and role not in ROLES:
        raise ExperimentError(f"role {role!r} is not one of {', '.join(ROLES)}")


def _check_regions(status: Mapping[str, Any], regions: Sequence[str]) -> None:
    known = list(status.get("regions") or [])
    unknown = [r for r in regions if r not in known]
    if unknown:
        raise ExperimentError(
            f"no region {', '.join(map(repr, unknown))} in lab {status.get('name')!r} (regions: {', '.join(known)})"
        )


def _current(node: Mapping[str, Any]) -> bool:
    """A node slot still in service: a replaced node's old slot no longer counts."""
    return not node.get("replaced_by") and node.get("status") != "stopped"


def node_candidates(
    status: Mapping[str, Any],
    *,
    name: str | Iterable[str] | None = None,
    region: str | Iterable[str] | None = None,
    role: str | None = None,
    state: str = "alive",
) -> list[dict[str, Any]]:
    """Nodes matching the filters, sorted by name; ``state`` is 'alive' (serving), 'paused', 'dead' or 'any'."""
    _check_role(role)
    names, regions = as_names(name), as_names(region)
    _check_regions(status, regions)
    nodes = list(status.get("nodes") or [])
    unknown = [n for n in names if n not in {node.get("name") for node in nodes}]
    if unknown:
        raise ExperimentError(
            f"no node {', '.join(map(repr, unknown))} in lab {status.get('name')!r} "
            f"(nodes: {', '.join(str(n.get('name')) for n in nodes)})"
        )

    def state_ok(node: Mapping[str, Any]) -> bool:
        alive, paused = bool(node.get("alive")), bool(node.get("paused"))
        return {
            "alive": alive and not paused and _current(node),
            "paused": alive and paused,
            "dead": not alive and _current(node),
            "any": True,
        }[state]

    if state not in ("alive", "paused", "dead", "any"):
        raise ExperimentError(f"node state {state!r} is not one of alive, paused, dead, any")
    out = [
        dict(node)
        for node in nodes
        if (not names or node.get("name") in names)
        and (not regions or node.get("region") in regions)
        and (role is None or node.get("role") == role)
        and state_ok(node)
    ]
    return sorted(out, key=lambda n: str(n.get("name")))


def agent_candidates(
    status: Mapping[str, Any],
    *,
    agent: str | Iterable[str] | None = None,
    node: str | Iterable[str] | None = None,
    region: str | Iterable[str] | None = None,
    alive: bool = True,
) -> list[dict[str, Any]]:
    """Agents (``id``, ``url``, ``alive``, ``node``, ``region``) on current, unpaused nodes, sorted by id."""
    agents, nodes = as_names(agent), as_names(node)
    regions = as_names(region)
    _check_regions(status, regions)
    out = []
    known: set[str] = set()
    for host in status.get("nodes") or []:
        for a in host.get("agents") or []:
            known.add(str(a.get("id")))
            if agents and a.get("id") not in agents:
                continue
            if nodes and host.get("name") not in nodes:
                continue
            if regions and host.get("region") not in regions:
                continue
            if alive and not (a.get("alive") and host.get("alive") and not host.get("paused") and _current(host)):
                continue
            out.append({**a, "node": host.get("name"), "region": host.get("region")})
    unknown = [a for a in agents if a not in known]
    if unknown:
        raise ExperimentError(f"no agent {', '.join(map(repr, unknown))} in lab {status.get('name')!r}")
    return sorted(out, key=lambda a: str(a.get("id")))


def blast_radius(
    candidates: Sequence[dict[str, Any]],
    *,
    count: int | None = None,
    percent: float | None = None,
    seed: int | str | None = None,
    named: bool = False,
    what: str = "targets",
) -> list[dict[str, Any]]:
    """Pick ``count`` or ``ceil(percent% of n)`` of ``candidates`` at random with ``seed``.

    With neither: every candidate when they were ``named``, otherwise one. Asking for more than match
    is an error (the blast radius must be what the experiment says), asking for 0 picks nothing.
    """
    if count is not None and percent is not None:
        raise ExperimentError(f"give either count or percent of {what}, not both")
    n = len(candidates)
    if count is not None:
        if isinstance(count, bool) or int(count) != count or count < 0:
            raise ExperimentError(f"count of {what} must be a whole number >= 0, not {count!r}")
        k = int(count)
    elif percent is not None:
        if not 0 <= float(percent) <= 100:
            raise ExperimentError(f"percent of {what} must be in 0..100, not {percent!r}")
        k = math.ceil(n * float(percent) / 100 - 1e-9)
    else:
        k = n if named else 1
    if k == 0:
        return []
    if n == 0:
        raise ExperimentError(f"no {what} match the selection; check the name, region and role filters")
    if k > n:
        raise ExperimentError(f"asked for {k} {what} but only {n} match ({', '.join(_label(c) for c in candidates)})")
    if k == n:
        return list(candidates)
    picked = random.Random(seed).sample(range(n), k)
    return [candidates[i] for i in sorted(picked)]


def _label(target: Mapping[str, Any]) -> str:
    return str(target.get("name") or target.get("id"))


def select_nodes(
    status: Mapping[str, Any],
    *,
    name: str | Iterable[str] | None = None,
    region: str | Iterable[str] | None = None,
    role: str | None = None,
    count: int | None = None,
    percent: float | None = None,
    seed: int | str | None = None,
    state: str = "alive",
) -> list[dict[str, Any]]:
    """The nodes an action breaks: filters, then the blast radius."""
    candidates = node_candidates(status, name=name, region=region, role=role, state=state)
    return blast_radius(candidates, count=count, percent=percent, seed=seed, named=bool(as_names(name)),
                        what=f"{state} nodes")


def select_agents(
    status: Mapping[str, Any],
    *,
    agent: str | Iterable[str] | None = None,
    node: str | Iterable[str] | None = None,
    region: str | Iterable[str] | None = None,
    count: int | None = None,
    percent: float | None = None,
    seed: int | str | None = None,
) -> list[dict[str, Any]]:
    """The agents an action kills (only serving agents are candidates)."""
    candidates = agent_candidates(status, agent=agent, node=node, region=region)
    return blast_radius(candidates, count=count, percent=percent, seed=seed, named=bool(as_names(agent)),
                        what="serving agents")


def select_regions(status: Mapping[str, Any], region: str | Iterable[str] | None) -> list[str]:
    """Named regions, checked against the lab; ``*`` or None means every region."""
    names = as_names(region)
    if not names or names == ["*"]:
        return list(status.get("regions") or [])
    _check_regions(status, names)
    return names


def link_pairs(status: Mapping[str, Any], src: str, dst: str, *, both_directions: bool = True) -> list[tuple[str, str]]:
    """Directed region pairs matched by ``src``/``dst`` (``*`` = any region), optionally both ways."""
    for region in (src, dst):
        if region != "*":
            _check_regions(status, [region])
    pairs = {(li["src"], li["dst"]) for li in status.get("links") or []}
    if not pairs:
        regions = list(status.get("regions") or [])
        pairs = {(a, b) for a in regions for b in regions if a != b}

    def match(a: str, b: str) -> bool:
        return src in ("*", a) and dst in ("*", b)

    chosen = {p for p in pairs if match(*p) or (both_directions and match(p[1], p[0]))}
    if not chosen:
        raise ExperimentError(f"no link between {src!r} and {dst!r} in lab {status.get('name')!r}")
    return sorted(chosen)


def paused_nodes(status: Mapping[str, Any], name: str | Iterable[str] | None = None) -> list[str]:
    """Names of paused nodes (all of them, or those named)."""
    return [n["name"] for n in node_candidates(status, name=name, state="paused")]


def describe_targets(status: Mapping[str, Any], action: str, arguments: Mapping[str, Any] | None = None) -> dict:
    """What ``chaos.actions.<action>(**arguments)`` would break in this lab, without breaking it.

    Returns ``{"action", "kind", "targets": [...]}``; kinds are node, agent, region, link, all, none.
    """
    args = dict(arguments or {})
    pick = {k: args.get(k) for k in ("count", "percent", "seed")}
    if action in _NODE_ACTIONS:
        nodes = select_nodes(status, name=args.get("name"), region=args.get("region"), role=args.get("role"), **pick)
        return {"action": action, "kind": "node", "targets": [n["name"] for n in nodes]}
    if action == "kill_agent":
        agents = select_agents(status, agent=args.get("agent"), node=args.get("node"), region=args.get("region"),
                               **pick)
        return {"action": action, "kind": "agent", "targets": [a["id"] for a in agents],
                "times": int(args.get("times", 1))}
    if action in ("kill_region", "restore_region"):
        return {"action": action, "kind": "region", "targets": select_regions(status, args.get("region"))}
    if action in _LINK_ACTIONS:
        if action == "partition_regions":
            src, dst, both = str(args.get("region", "*")), str(args.get("other", "*")), True
        else:
            src, dst = str(args.get("src", "*")), str(args.get("dst", "*"))
            both = bool(args.get("both_directions", action != "heal_links"))
        pairs = link_pairs(status, src, dst, both_directions=both)
        return {"action": action, "kind": "link", "targets": [f"{a}->{b}" for a, b in pairs]}
    if action == "resume_node":
        return {"action": action, "kind": "node", "targets": paused_nodes(status, args.get("name"))}
    if action == "relieve_node":
        throttled = [n["name"] for n in status.get("nodes", []) if n.get("cpu_percent")]
        wanted = set(as_names(args.get("name"))) or set(throttled)
        return {"action": action, "kind": "node", "targets": [n for n in throttled if n in wanted]}
    if action == "churn":
        nodes = node_candidates(status, region=args.get("region"), role=args.get("role") or "agent")
        duration, interval = float(args.get("duration_s", 20.0)), float(args.get("interval_s", 5.0))
        return {"action": action, "kind": "node", "targets": [n["name"] for n in nodes],
                "kills": max(1, int(duration // interval)) if interval > 0 else 0}
    if action == "heal":
        return {"action": action, "kind": "all", "targets": ["links", "paused nodes", "throttled nodes",
                                                              "killed nodes"]}
    return {"action": action, "kind": "none", "targets": []}


def plan_experiment(
    experiment: Mapping[str, Any], status: Mapping[str, Any], configuration: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Every chaos.actions activity of the method and rollbacks, with what it would break (a dry run).

    ``${...}`` arguments are substituted from ``configuration`` as Chaos Toolkit would; an activity whose
    selection is impossible gets an ``error`` instead of targets.
    """
    from chaoslib import substitute  # chaoslib's own rule for ${name} placeholders

    plan = []
    for section, activity in activities(dict(experiment)):
        if section != "steady-state-hypothesis":
            provider = activity.get("provider") or {}
            if provider.get("type") != "python" or provider.get("module") != "chaos.actions":
                continue
            args = substitute(dict(provider.get("arguments") or {}), dict(configuration or {}), None) or {}
            entry = {"section": section, "name": activity.get("name"), "func": provider.get("func")}
            try:
                entry.update(describe_targets(status, str(provider.get("func")), args))
            except ExperimentError as exc:
                entry["error"] = str(exc)
            plan.append(entry)
    return plan
