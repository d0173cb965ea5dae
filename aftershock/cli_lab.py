"""``aftershock lab ...`` and ``aftershock topology ...``."""

from __future__ import annotations

import argparse
import json
import sys

from core.errors import UserError
from core.settings import Settings
from engines.ray.engine import ray_lab_up
from fleet.lab import check_lab_name, lab_down, lab_status, lab_up, list_labs
from fleet.presets import LabOptions
from fleet.topology import builtin_names, load_topology

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    lab = sub.add_parser("lab", help="start, inspect and stop labs (real agent deployments on this machine)")
    lab_sub = lab.add_subparsers(dest="lab_command", metavar="ACTION")
    lab_sub.required = True

    up = lab_sub.add_parser("up", help="start a lab and wait until every agent serves; prints the lab's name")
    up.add_argument("topology", help=f"a built-in topology ({', '.join(builtin_names())}) or a YAML file")
    up.add_argument("--name", help="lab name (default: TOPOLOGY-xxxx)")
    up.add_argument("--seed", type=int, default=1, help="seed of the workload and of every random choice (default 1)")
    up.add_argument("--json", action="store_true", help="print the lab status as JSON instead of the name")
    up.add_argument("--engine", choices=["lab", "ray"], default="lab",
                    help="the embedded lab (default) or Ray: one Ray actor per node, placed by region")
    up.add_argument("--ray-address", metavar="HOST:PORT",
                    help="with --engine ray: deploy onto this Ray cluster, whose nodes carry region:NAME resources "
                         "(default: start a local multi-node cluster on 127.0.0.1, stopped at `lab down`)")
    up.add_argument("--runtime", default=LabOptions().label, metavar="LOOP/TRANSPORT/SPAWN",
                    help="how the embedded lab runs its processes (docs/lab.md): event loop uvloop|asyncio, mesh "
                         "peer transport udp|http, children fork|exec; `baseline` is asyncio/http/exec "
                         f"(default {LabOptions().label})")
    up.set_defaults(func=_up)

    status = lab_sub.add_parser("status", help="status of a running lab")
    status.add_argument("name", nargs="?", help="lab name (default: the only running lab)")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=_status)

    ls = lab_sub.add_parser("list", help="list running labs")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)

    down = lab_sub.add_parser("down", help="stop a lab (or every lab with --all)")
    down.add_argument("name", nargs="?")
    down.add_argument("--all", action="store_true", help="stop every running lab")
    down.set_defaults(func=_down)

    topo = sub.add_parser("topology", help="list, show and validate topology files")
    topo_sub = topo.add_subparsers(dest="topology_command", metavar="ACTION")
    topo_sub.required = True
    tl = topo_sub.add_parser("list", help="built-in topologies")
    tl.set_defaults(func=_topology_list)
    tv = topo_sub.add_parser("validate", help="check a topology file; exit 2 with one line if it is invalid")
    tv.add_argument("topology")
    tv.set_defaults(func=_topology_validate)
    ts = topo_sub.add_parser("show", help="print a topology with every default filled in (JSON)")
    ts.add_argument("topology")
    ts.set_defaults(func=_topology_show)


def _up(args: argparse.Namespace, settings: Settings) -> int:
    if args.name is not None:
        check_lab_name(args.name)
    topo = load_topology(args.topology)
    if args.ray_address and args.engine != "ray":
        raise UserError("--ray-address needs --engine ray")
    try:
        options = LabOptions.parse(args.runtime)
    except ValueError as exc:
        raise UserError(f"--runtime {exc}") from None
    where = "" if args.engine == "lab" else f" on Ray ({args.ray_address or 'a local cluster'})"
    print(f"starting {topo.kind} lab{where}: {topo.total_nodes} nodes, {topo.total_agents} agents in "
          f"{len(topo.regions)} regions ...", file=sys.stderr)
    if args.engine == "ray":
        status = ray_lab_up(settings, topo, address=args.ray_address, name=args.name, seed=args.seed)
    else:
        status = lab_up(settings, topo, name=args.name, seed=args.seed, options=options)
    if args.json:
        print(json.dumps(status, indent=2))
    else:
        print(status["name"])
        print(f"ready: control {status['control_url']}, clients' metrics {status['clients']['metrics_url']}, "
              f"request log {status['request_log']}", file=sys.stderr)
    return 0


def _status(args: argparse.Namespace, settings: Settings) -> int:
    status = lab_status(settings, args.name)
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    engine = status.get("engine", "lab")
    print(f"lab {status['name']} ({status['topology']}, {status['kind']}, engine {engine}), "
          f"supervisor pid {status['pid']}")
    if engine == "ray":
        ray = status.get("ray") or {}
        print(f"  ray      {ray.get('address', '?')} (Ray {ray.get('version', '?')}, "
              f"{'started by aftershock' if ray.get('started_by_aftershock') else 'attached'}, "
              f"restarts by {'Ray' if ray.get('restarts') == 'engine' else 'the lab'})")
    print(f"  control  {status['control_url']}")
    print(f"  requests {status['request_log']}")
    print(f"  events   {status['event_log']}")
    print(f"  clients  {status['clients']['metrics_url']}")
    for node in status["nodes"]:
        alive = sum(a["alive"] for a in node["agents"])
        node_class = f" class {node['class']}" if node.get("class", "default") != "default" else ""
        print(f"  {node['name']:<18} {node['region']:<10} {node['role']:<6} {node['status']:<8} "
              f"pid {node['pid'] or '-':<8} agents {alive}/{len(node['agents'])}  {node['metrics_url']}{node_class}")
    for link in status["links"]:
        if link["cut"] or link["loss"]:
            print(f"  link {link['src']} -> {link['dst']}: cut={link['cut']} loss={link['loss']}")
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    labs = list_labs(settings)
    if args.json:
        print(json.dumps([{"name": s["name"], "topology": s["topology"], "pid": s["pid"],
                           "control_url": s["control_url"]} for s in labs], indent=2))
    elif not labs:
        print("no lab is running; start one with `aftershock lab up decentralized`")
    for s in [] if args.json else labs:
        print(f"{s['name']:<28} {s['topology']:<16} pid {s['pid']}")
    return 0


def _down(args: argparse.Namespace, settings: Settings) -> int:
    if args.all:
        names = [s["name"] for s in list_labs(settings)]
    elif args.name:
        names = [args.name]
    else:
        raise UserError("name a lab to stop, or pass --all (running labs: `aftershock lab list`)")
    for name in names:
        lab_down(settings, name)
        print(f"stopped {name}", file=sys.stderr)
    return 0


def _topology_list(_args: argparse.Namespace, _settings: Settings) -> int:
    for name in builtin_names():
        topo = load_topology(name)
        print(f"{name:<15} {topo.total_nodes} nodes, {topo.total_agents} agents, "
              f"{len(topo.regions)} regions: {topo.description}")
    return 0


def _topology_validate(args: argparse.Namespace, _settings: Settings) -> int:
    topo = load_topology(args.topology)
    print(f"{args.topology}: ok ({topo.kind}, {topo.total_nodes} nodes, {topo.total_agents} agents)")
    return 0


def _topology_show(args: argparse.Namespace, _settings: Settings) -> int:
    topo = load_topology(args.topology)
    cap = topo.capacity()
    shown = topo.model_dump(mode="json")
    shown["capacity"] = {  # derived, not an input: fleet/capacity.py, docs/topologies.md
        "slots": cap.slots,
        "mean_work_s": round(cap.mean_work_s, 6),
        "tasks_per_s": round(cap.tasks_per_s, 3),
        "per_region_tasks_per_s": {r: round(v, 3) for r, v in cap.per_region.items()},
        "utilization": round(cap.utilisation(topo.workload.tasks_per_s), 4),
    }
    if cap.per_class:  # node classes (fleet/nodeclasses.py): what each class brings
        shown["capacity"]["per_class_tasks_per_s"] = {c: round(v, 3) for c, v in cap.per_class.items()}
    print(json.dumps(shown, indent=2))
    return 0
