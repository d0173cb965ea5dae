"""Chaos Toolkit actions against an Aftershock lab: kill, partition, slow, pause, churn, surge, heal.

Every action is a plain function: keyword arguments, then ``configuration`` and ``secrets`` (the lab
is resolved from the configuration, see chaos/labref.py), and returns a JSON-able dict of what it did.
Faults act from outside through the lab's control API; which targets are hit is decided by the pure
functions of chaos/targets.py, so a dry-run plan and the real run pick the same victims.

Blast radius: ``count`` or ``percent`` of the matching targets, random with ``seed`` (default:
configuration ``aftershock_seed``). Named targets are hit exactly; otherwise one target by default.
"""

import json
import logging
import math
import random
import time
from typing import Any

from chaoslib.types import Configuration, Secrets

from chaos import lease
from chaos import targets as tg
from chaos.control import current_recorder
from chaos.labref import LabRef, config_value, resolve_lab
from core.audit import actor, record
from core.errors import EmergencyStopped, ExperimentError, UserError
from core.stop import stop_state
from core.wait import wait_until
from fleet.loadcontrol import LoadOverride, clear_override, write_override
from fleet.topology import parse_topology

__all__ = [
    "kill_node",
    "kill_agent",
    "kill_region",
    "restore_region",
    "partition_regions",
    "add_latency",
    "add_loss",
    "heal_links",
    "pause_node",
    "resume_node",
    "stress_node",
    "relieve_node",
    "churn",
    "surge_load",
    "end_surge",
    "heal",
]

log = logging.getLogger("aftershock.chaos")

#: How often loops that wait on the lab poll its status.
POLL_S = 0.2
#: Actions that break something (audited as ``inject``, refused under an emergency stop, covered by the
#: dead-man lease); every other action mends (audited as ``rollback``, always allowed).
INJECTING = frozenset({"kill_node", "kill_agent", "kill_region", "partition_regions", "add_latency", "add_loss",
                       "pause_node", "stress_node", "churn", "surge_load"})


def _seed(seed: int | str | None, configuration: Configuration) -> int | str | None:
    return seed if seed is not None else config_value(configuration, "aftershock_seed")


def _run_id(configuration: Configuration) -> str | None:
    """The run this activity belongs to: the runner's, or the one the recording control created."""
    run = config_value(configuration, "aftershock_run_id")
    if run:
        return str(run)
    recorder = current_recorder()
    return recorder.run_id if recorder is not None else None


def _refuse_if_stopped(lab: LabRef, action: str, configuration: Configuration) -> None:
    """Under an emergency stop: audit the refusal, end the experiment gracefully, raise one line."""
    state = stop_state(lab.settings.home)
    if state is None:
        return
    run = _run_id(configuration)
    record(lab.settings.home, "refused", actor(), run=run, lab=lab.name, target=action, reason=state.describe())
    lease.interrupt_experiment(state.describe(), run)
    raise EmergencyStopped(f"{action} refused: {state.describe()}; clear it with `aftershock stop --clear`")


def _lab(configuration: Configuration, action: str) -> LabRef:
    """The lab an action acts on; an injection is checked against the stop and covered by a lease first."""
    lab = resolve_lab(configuration)
    if action in INJECTING:
        _refuse_if_stopped(lab, action, configuration)
        lease.attach(lab, configuration, _run_id(configuration))
    return lab


def _done(lab: LabRef, action: str, configuration: Configuration, target: Any, **fields: Any) -> dict[str, Any]:
    """The action's result; audited as an injection or a rollback, with run, lab and target."""
    result = {"lab": lab.name, "action": action, "at": time.time(), **fields}
    log.info("%s on lab %s: %s", action, lab.name, {k: v for k, v in fields.items() if k != "results"})
    if isinstance(target, list | tuple):
        target = ",".join(str(t) for t in target) or "-"
    record(lab.settings.home, "inject" if action in INJECTING else "rollback", actor(), run=_run_id(configuration),
           lab=lab.name, target=str(target)[:500], action_name=action)
    return result


def _link_names(links: list[dict[str, Any]]) -> list[str]:
    return [f"{li.get('src')}->{li.get('dst')}" for li in links]


def _selected_nodes(configuration: Configuration, action: str, name: Any, region: Any, role: str | None,
                    count: int | None, percent: float | None, seed: Any) -> tuple[LabRef, list[dict[str, Any]]]:
    """The lab and the nodes an action targets (see chaos.targets for the selection rules)."""
    lab = _lab(configuration, action)
    nodes = tg.select_nodes(lab.live_status(), name=name, region=region, role=role, count=count, percent=percent,
                            seed=_seed(seed, configuration))
    return lab, nodes


def kill_node(
    name: str | list[str] | None = None,
    region: str | list[str] | None = None,
    role: str | None = None,
    count: int | None = None,
    percent: float | None = None,
    seed: int | str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """SIGKILL the selected nodes' processes (a machine or pod host lost). ``count: 0`` kills nothing."""
    lab, nodes = _selected_nodes(configuration, "kill_node", name, region, role, count, percent, seed)
    results = [lab.client.kill_node(n["name"]) for n in nodes]
    killed = [n["name"] for n in nodes]
    return _done(lab, "kill_node", configuration, killed, killed=killed, results=results)


def kill_agent(
    agent: str | list[str] | None = None,
    node: str | list[str] | None = None,
    region: str | list[str] | None = None,
    count: int | None = None,
    percent: float | None = None,
    seed: int | str | None = None,
    times: int = 1,
    interval_s: float = 5.0,
    uptime_s: float = 0.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Kill agents (their node host closes them); ``times > 1`` makes a crash loop of the same agents.

    Between kills the action waits up to ``interval_s`` for the deployment to bring each agent back,
    lets it serve ``uptime_s``, and kills it again; an agent nobody restarts stays down (and is noted).
    """
    if times < 1:
        raise ExperimentError(f"kill_agent: times must be >= 1, not {times}")
    lab = _lab(configuration, "kill_agent")
    chosen = tg.select_agents(lab.live_status(), agent=agent, node=node, region=region, count=count,
                              percent=percent, seed=_seed(seed, configuration))
    ids = [a["id"] for a in chosen]
    kills: list[dict[str, Any]] = []
    for round_ in range(times):
        if round_ > 0:
            _wait_agents_back(lab, ids, interval_s)
            if uptime_s > 0:
                time.sleep(uptime_s)  # pacing: let the restarted agent serve before it crashes again
        if round_ > 0:
            _refuse_if_stopped(lab, "kill_agent", configuration)
        serving = {a["id"] for a in tg.agent_candidates(lab.live_status(), agent=ids)}
        for agent_id in ids:
            if agent_id in serving:
                lab.client.kill_agent(agent_id)
                kills.append({"round": round_, "agent": agent_id, "ts": time.time()})
            else:
                kills.append({"round": round_, "agent": agent_id, "ts": time.time(), "skipped": "not serving"})
    return _done(lab, "kill_agent", configuration, ids, agents=ids, kills=kills)


def _wait_agents_back(lab: LabRef, ids: list[str], timeout_s: float) -> bool:
    def back() -> bool:
        return len(tg.agent_candidates(lab.live_status(), agent=ids)) == len(ids)

    try:
        wait_until(back, timeout_s, interval_s=POLL_S, what="agents to be restarted")
        return True
    except TimeoutError:
        return False


def kill_region(
    region: str | list[str], configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """SIGKILL every node of the region(s), hubs included (a whole region lost)."""
    lab = _lab(configuration, "kill_region")
    regions = tg.select_regions(lab.live_status(), region)
    results = [lab.client.kill_region(r) for r in regions]
    return _done(lab, "kill_region", configuration, regions, regions=regions,
                 killed=[n for r in results for n in r.get("killed", [])])


def restore_region(
    region: str | list[str] | None = None, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Restart the region's killed nodes that were not replaced (every region when none is named)."""
    lab = _lab(configuration, "restore_region")
    regions = tg.select_regions(lab.live_status(), region)
    results = [lab.client.restore_region(r) for r in regions]
    return _done(lab, "restore_region", configuration, regions, regions=regions,
                 restored=[n for r in results for n in r.get("restored", [])])


def _set_links(lab: LabRef, pairs: list[tuple[str, str]], **change: Any) -> list[dict[str, Any]]:
    links = []
    for src, dst in pairs:
        links.extend(lab.client.set_link(src, dst, **change).get("links", []))
    return links


def partition_regions(
    region: str, other: str = "*", configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Cut the links between ``region`` and ``other`` both ways; ``other="*"`` isolates ``region`` from all."""
    lab = _lab(configuration, "partition_regions")
    pairs = tg.link_pairs(lab.live_status(), region, other, both_directions=True)
    _set_links(lab, pairs, cut=True)
    cut = [f"{a}->{b}" for a, b in pairs]
    return _done(lab, "partition_regions", configuration, cut, cut=cut)


def add_latency(
    src: str,
    dst: str,
    latency_ms: float,
    both_directions: bool = True,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Add ``latency_ms`` of one-way delay on top of each matching link's current latency (``*`` = any)."""
    if not 0 <= float(latency_ms) <= 60_000:
        raise ExperimentError(f"add_latency: latency_ms must be in 0..60000, not {latency_ms}")
    lab = _lab(configuration, "add_latency")
    status = lab.live_status()
    current = {(li["src"], li["dst"]): float(li.get("latency_ms", 0.0)) for li in status.get("links") or []}
    changed = []
    for src_, dst_ in tg.link_pairs(status, src, dst, both_directions=both_directions):
        new = min(60_000.0, current.get((src_, dst_), 0.0) + float(latency_ms))
        changed.extend(lab.client.set_link(src_, dst_, latency_ms=new).get("links", []))
    return _done(lab, "add_latency", configuration, _link_names(changed), added_ms=float(latency_ms), links=changed)


def add_loss(
    src: str,
    dst: str,
    loss: float,
    both_directions: bool = True,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Drop ``loss`` (0..1) of the requests on each matching link (a dropped request black-holes)."""
    if not 0 <= float(loss) <= 1:
        raise ExperimentError(f"add_loss: loss must be a fraction in 0..1, not {loss}")
    lab = _lab(configuration, "add_loss")
    pairs = tg.link_pairs(lab.live_status(), src, dst, both_directions=both_directions)
    links = _set_links(lab, pairs, loss=float(loss))
    return _done(lab, "add_loss", configuration, _link_names(links), loss=float(loss), links=links)


def heal_links(
    src: str = "*", dst: str = "*", configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Put the matching links back to the topology's latency, no loss, not cut (nodes are left alone)."""
    lab = _lab(configuration, "heal_links")
    status = lab.live_status()
    pairs = tg.link_pairs(status, src, dst, both_directions=False)
    try:
        path = lab.lab_dir / "topology.json"
        topo = parse_topology(json.loads(path.read_text()), str(path))
    except (OSError, ValueError, UserError) as exc:
        log.warning("heal_links: topology of lab %s unreadable (%s); healing the whole lab instead", lab.name, exc)
        return _done(lab, "heal_links", configuration, "all", healed="all", result=lab.client.heal())
    links = []
    for a, b in pairs:
        links.extend(lab.client.set_link(a, b, latency_ms=topo.link_latency_ms(a, b), loss=0.0, cut=False)
                     .get("links", []))
    return _done(lab, "heal_links", configuration, _link_names(links), links=links)


def pause_node(
    name: str | list[str] | None = None,
    region: str | list[str] | None = None,
    role: str | None = None,
    count: int | None = None,
    percent: float | None = None,
    seed: int | str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """SIGSTOP the selected nodes: a gray failure, sockets open and nothing answering."""
    lab, nodes = _selected_nodes(configuration, "pause_node", name, region, role, count, percent, seed)
    for n in nodes:
        lab.client.pause_node(n["name"])
    paused = [n["name"] for n in nodes]
    return _done(lab, "pause_node", configuration, paused, paused=paused)


def resume_node(
    name: str | list[str] | None = None, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """SIGCONT the named paused nodes, or every paused node when none is named."""
    lab = _lab(configuration, "resume_node")
    names = tg.paused_nodes(lab.live_status(), name)
    for n in names:
        lab.client.resume_node(n)
    return _done(lab, "resume_node", configuration, names, resumed=names)


def stress_node(
    name: str | list[str] | None = None,
    region: str | list[str] | None = None,
    role: str | None = None,
    count: int | None = None,
    percent: float | None = None,
    seed: int | str | None = None,
    cpu_percent: float = 20.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Starve the selected nodes of CPU: they run only ``cpu_percent`` of the time (a noisy neighbour, an
    overloaded host). Alive and answering, just slow: the gray failure health checks tend to miss."""
    lab, nodes = _selected_nodes(configuration, "stress_node", name, region, role, count, percent, seed)
    for n in nodes:
        lab.client.throttle_node(n["name"], cpu_percent)
    stressed = [n["name"] for n in nodes]
    return _done(lab, "stress_node", configuration, stressed, stressed=stressed, cpu_percent=cpu_percent)


def relieve_node(
    name: str | list[str] | None = None, configuration: Configuration = None, secrets: Secrets = None
) -> dict[str, Any]:
    """Give the named stressed nodes (or every stressed node) their CPU back."""
    lab = _lab(configuration, "relieve_node")
    targets = tg.describe_targets(lab.live_status(), "relieve_node", {"name": name})["targets"]
    for n in targets:
        lab.client.unthrottle_node(n)
    return _done(lab, "relieve_node", configuration, targets, relieved=targets)


def churn(
    duration_s: float = 20.0,
    interval_s: float = 5.0,
    region: str | list[str] | None = None,
    role: str = "agent",
    restart_after_s: float | None = None,
    seed: int | str | None = None,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """Kill one random serving node every ``interval_s`` for ``duration_s`` (seeded), like spot churn.

    With ``restart_after_s`` the action itself restarts each victim after that delay (unless the
    deployment replaced it); without, replacing or restarting is left to the deployment. Restarts still
    pending when the duration ends are done then. Returns every kill and restart.
    """
    if interval_s <= 0 or duration_s < 0:
        raise ExperimentError("churn: interval_s must be > 0 and duration_s >= 0")
    lab = _lab(configuration, "churn")
    rng = random.Random(_seed(seed, configuration))
    start = time.monotonic()
    events: list[dict[str, Any]] = []
    pending: list[tuple[float, str]] = []
    next_kill = start
    while True:
        now = time.monotonic()
        for due, name in [p for p in pending if p[0] <= now]:
            pending.remove((due, name))
            events.append(_restart(lab, name))
        if now - start >= duration_s:
            break
        if now >= next_kill:
            _refuse_if_stopped(lab, "churn", configuration)
            candidates = tg.node_candidates(lab.live_status(), region=region, role=role)
            if candidates:
                victim = rng.choice(candidates)["name"]
                lab.client.kill_node(victim)
                events.append({"ts": time.time(), "kind": "killed", "node": victim})
                if restart_after_s is not None:
                    pending.append((time.monotonic() + float(restart_after_s), victim))
            else:
                events.append({"ts": time.time(), "kind": "skipped", "reason": "no serving node matches"})
            next_kill = max(next_kill + interval_s, time.monotonic() + interval_s / 2)  # slow restarts: no bursts
        wake = min([next_kill, start + duration_s, *(p[0] for p in pending)])
        time.sleep(max(0.0, min(wake - time.monotonic(), interval_s)))  # pacing, not synchronisation
    for _due, name in pending:
        events.append(_restart(lab, name))
    killed = [e["node"] for e in events if e["kind"] == "killed"]
    return _done(lab, "churn", configuration, killed, events=events, killed=killed)


def _number(value: Any, name: str, low: float, high: float) -> float:
    """A number argument (a configuration substitution may hand it over as a string), in range, else one line."""
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not low <= number <= high:
        raise ExperimentError(f"surge_load: {name} must be a number in {low:g}..{high:g}, got {value!r}")
    return number


def surge_load(
    factor: float = 3.0,
    duration_s: float = 20.0,
    configuration: Configuration = None,
    secrets: Secrets = None,
) -> dict[str, Any]:
    """A flash crowd: the clients ask ``factor`` times the workload's rate for ``duration_s`` seconds.

    The load generator stays open-loop and seeded; it reads the surge from its control file
    (fleet/loadcontrol.py) within a quarter of a second. The surge ends by itself at its deadline (capped by
    the experiment's maximum fault duration), so nothing is left behind if the run dies; ``end_surge`` ends it
    early. The request log's ``asked_rate`` column shows it.
    """
    factor = _number(factor, "factor", 0, 100)
    duration_s = _number(duration_s, "duration_s", 1e-3, 86_400)
    lab = _lab(configuration, "surge_load")
    duration = min(float(duration_s), lease.max_fault_s(configuration, lab.settings.max_fault_s))
    now = time.time()
    write_override(lab.request_log, LoadOverride(float(factor), now, now + duration, by=actor()))
    return _done(lab, "surge_load", configuration, f"x{factor}", factor=float(factor), duration_s=duration,
                 until=now + duration)


def end_surge(configuration: Configuration = None, secrets: Secrets = None) -> dict[str, Any]:
    """End a surge early (the rollback of ``surge_load``): the clients go back to the workload's own rate."""
    lab = _lab(configuration, "end_surge")
    ended = clear_override(lab.request_log)
    return _done(lab, "end_surge", configuration, "load", ended=ended)


def _restart(lab: LabRef, name: str) -> dict[str, Any]:
    try:
        result = lab.client.restart_node(name)
    except UserError as exc:  # replaced meanwhile: the deployment already took care of it
        return {"ts": time.time(), "kind": "not_restarted", "node": name, "reason": str(exc)}
    return {"ts": time.time(), "kind": "restarted" if result.get("restarted") else "not_restarted", "node": name,
            "reason": result.get("reason")}


def heal(configuration: Configuration = None, secrets: Secrets = None) -> dict[str, Any]:
    """Everything back: links to the topology, paused nodes resumed, killed nodes and agents restarted."""
    lab = _lab(configuration, "heal")
    return _done(lab, "heal", configuration, "all", result=lab.client.heal())
