"""``aftershock target ...`` (deployments to attach to) and ``aftershock k8s ...`` (manifests, load)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import yaml

from aftershock.target_run import add_target, run_target, target_dry_run
from core.errors import EngineError, TopologyError, UserError
from core.settings import Settings
from core.yamlsafe import YamlRefused, load_yaml
from engines import load_target, open_target
from engines.kubernetes.labels import OPT_IN_LABEL, OPT_IN_VALUE
from engines.kubernetes.ledger import Ledger
from engines.kubernetes.loadgen import ServiceLoad
from engines.kubernetes.manifests import DEFAULT_IMAGE, dump_manifests, render_manifests, slug
from engines.kubernetes.target import DEFAULT_ZONE_LABEL, LoadShape, RequestShape, parse_target
from engines.targets import list_target_names, remove_target_files, target_path
from fleet.topology import builtin_names, load_topology
from presentation.table import format_summary

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    target = sub.add_parser("target", help="deployments on a cluster that experiments attach to (docs/engines.md)")
    tsub = target.add_subparsers(dest="target_command", metavar="ACTION")
    tsub.required = True

    add = tsub.add_parser("add", help="check a Kubernetes deployment and store it as a target (nothing is changed)")
    add.add_argument("name", help="target name (lowercase letters, digits, '-')")
    add.add_argument("--kube-context", required=True, help="kubeconfig context ($KUBECONFIG or ~/.kube/config)")
    add.add_argument("--namespace", required=True, help=f"namespace labelled {OPT_IN_LABEL}={OPT_IN_VALUE}")
    add.add_argument("--selector", required=True, help="label selector of the agent pods, e.g. app=agent")
    add.add_argument("--hub-selector", help="label selector of the hub pods (role hub)")
    add.add_argument("--service-url", help="the deployment's service URL the load generator sends tasks to")
    add.add_argument("--prometheus-url", help="the cluster's Prometheus (HTTP API) for the target's metrics")
    add.add_argument("--zone-label", default=DEFAULT_ZONE_LABEL,
                     help=f"node label naming regions (default {DEFAULT_ZONE_LABEL})")
    add.add_argument("--query", action="append", default=[], metavar="NAME=PROMQL",
                     help="a metric to record (${namespace} is substituted); repeat; replaces a default of that name")
    add.add_argument("--request", metavar="FILE", help="YAML/JSON request shape (method, path, headers, body, ...)")
    add.add_argument("--rate", type=float, help="load: tasks per second (default 10)")
    add.add_argument("--sessions", type=int, help="load: sessions (default 100)")
    add.add_argument("--timeout", type=float, help="load: request timeout in seconds (default 3)")
    add.add_argument("--grace-period", type=int, default=0, metavar="S", help="pod deletion grace period (default 0)")
    add.add_argument("--replace", action="store_true", help="overwrite a stored target of that name")
    add.set_defaults(func=_add)

    ls = tsub.add_parser("list", help="stored targets")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)

    show = tsub.add_parser("show", help="a target's settings and what Aftershock has in place on it")
    show.add_argument("name")
    show.add_argument("--live", action="store_true", help="also list the pods and zones it would target now")
    show.set_defaults(func=_show)

    heal = tsub.add_parser("heal", help="undo every fault Aftershock left on a target (chaos objects, cordons)")
    heal.add_argument("name", nargs="?", help="target name (default: every target)")
    heal.set_defaults(func=_heal)

    rm = tsub.add_parser("remove", help="forget a target (refused while faults are in place: heal it first)")
    rm.add_argument("name")
    rm.set_defaults(func=_remove)

    k8s = sub.add_parser("k8s", help="the lab's topologies on Kubernetes: manifests and the load generator")
    ksub = k8s.add_subparsers(dest="k8s_command", metavar="ACTION")
    ksub.required = True
    man = ksub.add_parser("manifests", help="render a topology as Kubernetes manifests, validated offline")
    man.add_argument("topology", help=f"a built-in topology ({', '.join(builtin_names())}) or a YAML file")
    man.add_argument("--image", default=DEFAULT_IMAGE, help=f"the agents' image (default {DEFAULT_IMAGE})")
    man.add_argument("-o", "--output", metavar="DIR", help="write DIR/TOPOLOGY.yaml instead of standard output")
    man.add_argument("--namespace", help="namespace (default aftershock-TOPOLOGY)")
    man.add_argument("--zone", action="append", default=[], metavar="REGION=ZONE",
                     help="pin a region's pods to a zone of the cluster (default: the region's name); repeat")
    man.add_argument("--zone-label", default=DEFAULT_ZONE_LABEL, help="node label of zones")
    man.add_argument("--scale", type=int, default=1, help="pods per lab node (1..1000; default 1)")
    man.add_argument("--duration", type=int, default=600, metavar="S", help="the load Job's duration (default 600)")
    man.add_argument("--kube-version", default=kubernetes_validate.utils.latest_version(),
                     help="Kubernetes version whose schemas validate the manifests")
    man.set_defaults(func=_manifests)

    load = ksub.add_parser("load", help="send the ground-truth load to a service URL, writing the request log")
    load.add_argument("--service-url", help="URL to send tasks to (or --target's)")
    load.add_argument("--target", help="take the URL, request shape and load of a stored target")
    load.add_argument("--rate", type=float, help="tasks per second")
    load.add_argument("--sessions", type=int)
    load.add_argument("--work-ms", type=float)
    load.add_argument("--timeout", type=float)
    load.add_argument("--duration", type=float, default=60.0, metavar="S")
    load.add_argument("--seed", type=int, default=1)
    load.add_argument("--request-log", required=True, metavar="PATH", help="CSV request log (/dev/stdout works)")
    load.set_defaults(func=_load)


def _pairs(values: list[str], what: str) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip() or not rest.strip():
            raise UserError(f"{what} {value!r}: expected NAME=VALUE")
        out[key.strip()] = rest.strip()
    return out


def _read_mapping(path: str, what: str) -> dict[str, Any]:
    try:
        data = load_yaml(Path(path).read_text(encoding="utf-8"), f"{what} {path}")  # bounded (core/yamlsafe.py)
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"{what} {path}: cannot read ({type(exc).__name__}: {str(exc).splitlines()[0]})") from None
    except YamlRefused as exc:
        raise UserError(str(exc)) from None
    if not isinstance(data, dict):
        raise UserError(f"{what} {path}: expected a mapping of fields")
    return data


def _add(args: argparse.Namespace, settings: Settings) -> int:
    data: dict[str, Any] = {"name": args.name, "kube_context": args.kube_context, "namespace": args.namespace,
                            "selector": args.selector, "hub_selector": args.hub_selector,
                            "service_url": args.service_url, "prometheus_url": args.prometheus_url,
                            "zone_label": args.zone_label, "grace_period_s": args.grace_period}
    if args.query:
        queries = dict(parse_target({"name": "x", "kube_context": "x", "namespace": "x", "selector": "x=y"},
                                    "defaults").queries)
        queries.update(_pairs(args.query, "--query"))
        data["queries"] = queries
    if args.request:
        data["request"] = _read_mapping(args.request, "--request")
    load = {k: v for k, v in (("tasks_per_s", args.rate), ("sessions", args.sessions), ("timeout_s", args.timeout))
            if v is not None}
    if load:
        data["load"] = load
    target = parse_target({k: v for k, v in data.items() if v is not None}, "aftershock target add")
    summary = add_target(settings, target, replace=args.replace)
    print(f"target {target.name}: {summary['agents']} agent pod(s), {summary['hubs']} hub pod(s) in "
          f"{target.kube_context}/{target.namespace}, zones {', '.join(summary['zones']) or 'none'}; "
          f"Chaos Mesh {'installed' if summary['chaos_mesh'] else 'missing (no link faults)'}")
    print(f"stored {summary['stored']}; the first `aftershock run EXP --target {target.name}` is a dry run")
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    rows = []
    for name in list_target_names(settings):
        try:
            t = load_target(settings, name)
            state = Ledger(settings, name).read()
            rows.append({"name": name, "context": t.kube_context, "namespace": t.namespace, "selector": t.selector,
                         "armed": bool(state["armed"]),
                         "in_place": len(state["objects"]) + len(state["cordoned"])})
        except EngineError as exc:
            rows.append({"name": name, "error": str(exc)})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no targets; add one with `aftershock target add NAME --kube-context C --namespace N --selector S`")
    for r in rows:
        if "error" in r:
            print(f"{r['name']:<20} unreadable: {r['error']}")
        else:
            armed = "armed" if r["armed"] else "next run is a dry run"
            print(f"{r['name']:<20} {r['context']}/{r['namespace']}  {r['selector']}  ({armed}; "
                  f"{r['in_place']} fault object(s) in place)")
    return 0


def _show(args: argparse.Namespace, settings: Settings) -> int:
    target = load_target(settings, args.name)
    state = Ledger(settings, args.name).read()
    out: dict[str, Any] = {"file": str(target_path(settings, args.name)), "target": target.to_file(),
                           "armed": bool(state["armed"]), "run": state.get("run"),
                           "cordoned": state["cordoned"], "objects": state["objects"]}
    if args.live:
        status = open_target(settings, args.name).status()
        out["live"] = {"zones": status.regions, "pods": [{"name": n.name, "role": n.role, "zone": n.region,
                                                          "alive": n.alive} for n in status.nodes]}
    print(yaml.safe_dump(out, sort_keys=False), end="")
    return 0


def _heal(args: argparse.Namespace, settings: Settings) -> int:
    names = [args.name] if args.name else list_target_names(settings)
    failed = 0
    for name in names:
        try:
            result = open_target(settings, name).heal(reason="aftershock target heal")
        except UserError as exc:
            failed += 1
            print(f"{name}: not healed: {exc}", file=sys.stderr)
            continue
        print(f"{name}: removed {len(result['removed'])} chaos object(s), uncordoned "
              f"{len(result['uncordoned'])} node(s)")
    if failed:
        raise EngineError(f"{failed} target(s) could not be healed; fix the error above and run it again")
    return 0


def _remove(args: argparse.Namespace, settings: Settings) -> int:
    load_target(settings, args.name)
    state = Ledger(settings, args.name).read()
    if state["objects"] or state["cordoned"]:
        raise EngineError(f"target {args.name} still has {len(state['objects'])} chaos object(s) and "
                          f"{len(state['cordoned'])} cordon(s) in place; run `aftershock target heal {args.name}` "
                          "first")
    removed = remove_target_files(settings, args.name)
    print(f"removed target {args.name} ({len(removed)} file(s))")
    return 0


def _manifests(args: argparse.Namespace, settings: Settings) -> int:
    topo = load_topology(args.topology)
    docs = render_manifests(topo, image=args.image, namespace=args.namespace, zones=_pairs(args.zone, "--zone"),
                            zone_label=args.zone_label, scale=args.scale, duration_s=args.duration)
    known = kubernetes_validate.utils.all_versions()
    if kubernetes_validate.utils.major_minor(args.kube_version) not in {
            kubernetes_validate.utils.major_minor(v) for v in known}:
        raise UserError(f"--kube-version {args.kube_version}: no bundled schemas for it (bundled: {known[0]} to "
                        f"{known[-1]})")
    for doc in docs:  # never hand out something the API server would refuse
        try:
            kubernetes_validate.validate(doc, args.kube_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            raise TopologyError(f"{doc['kind']}/{doc['metadata']['name']} fails the Kubernetes "
                                f"{args.kube_version} schema: {exc.message}") from None
        except (kubernetes_validate.utils.VersionNotSupportedError,
                kubernetes_validate.utils.SchemaNotFoundError) as exc:
            raise UserError(f"--kube-version {args.kube_version}: {exc}") from None
    text = dump_manifests(docs)
    if not args.output:
        sys.stdout.write(text)
        return 0
    out = Path(args.output) / f"{slug(topo.name)}.yaml"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"-o {args.output}: cannot write ({exc.strerror or exc})") from None
    print(f"{out}: {len(docs)} manifests ({', '.join(sorted({d['kind'] for d in docs}))}); "
          f"apply with `kubectl apply -f {out}`", file=sys.stderr)
    return 0


def _load(args: argparse.Namespace, settings: Settings) -> int:
    if args.target:
        t = load_target(settings, args.target)
        url, request, base = args.service_url or t.service_url, t.request, t.load.model_dump()
    else:
        url, request, base = args.service_url, RequestShape(), {}
    if not url:
        raise UserError("give --service-url (or a --target that has one)")
    overrides = {k: v for k, v in (("tasks_per_s", args.rate), ("sessions", args.sessions),
                                   ("work_ms", args.work_ms), ("timeout_s", args.timeout)) if v is not None}
    try:
        shape = LoadShape.model_validate({**base, **overrides})
        parse_target({"name": "x", "kube_context": "x", "namespace": "x", "selector": "x=y", "service_url": url},
                     "--service-url")
    except ValueError as exc:
        raise UserError(f"load: {str(exc).splitlines()[-1] if str(exc) else exc}") from None
    if args.duration <= 0:
        raise UserError("--duration must be positive")
    gen = ServiceLoad(url, request, shape, Path(args.request_log), seed=args.seed)
    if args.target:  # the probes of a `chaos run` against the target read this log
        with Ledger(settings, args.target).update() as state:
            state["request_log"] = str(Path(args.request_log).resolve())
    counts = asyncio.run(gen.run(duration_s=args.duration))
    total = sum(counts.values())
    print(f"{total} request(s) to {url}: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
          file=sys.stderr)
    return 0


def _print_plan(result: dict[str, Any]) -> None:
    head = ("first run against target {t} is a dry run: nothing was touched; run the same command again to "
            "break it" if result.get("first_run") else "dry run against target {t}: nothing was touched")
    print(head.format(t=result["target"]))
    print(f"  {result['pods']} targeted pod(s) in zones {', '.join(result['zones']) or 'none'}; "
          f"experiment {result['experiment']}:")
    for step in result["plan"]:
        hit = step.get("error") or step.get("targets")
        print(f"    {step['section']:<10} {step['name']}: {step['func']} -> {hit}")
        for zone, nodes in (step.get("cordon") or {}).items():
            print(f"               zone {zone}: cordon {', '.join(nodes) or 'nothing'}; delete "
                  f"{', '.join(step['pods'].get(zone, [])) or 'no pod'}")


def run_on_target(args: argparse.Namespace, settings: Settings, plan: Any) -> int:
    """``aftershock run EXP --target NAME`` (and ``--dry-run``): printing only; the work is target_run's."""
    if args.topologies:
        raise UserError("--topology and --target exclude each other: a target is one deployment")
    if any(getattr(args, axis, None) for axis in ("intensity", "scale", "capacity")):
        raise UserError("sweeps are not supported against a target yet; run one intensity at a time")
    if args.dry_run:
        result = target_dry_run(settings, plan, args.target)
    else:
        def progress(message: str) -> None:
            print(message, file=sys.stderr)

        def on_run(outcome: Any) -> None:
            print(f"{outcome.topology} #{outcome.repeat}{' control' if outcome.control else ''}: {outcome.status} "
                  f"({outcome.run_id})", file=sys.stderr)

        result = run_target(settings, plan, args.target, progress=progress, on_run=on_run)
    if args.json:
        print(json.dumps(result, indent=2, allow_nan=False, default=str))
    elif result.get("dry_run"):
        _print_plan(result)
    else:
        print(format_summary(result))
    return 0
