"""``aftershock run``, ``aftershock sweep`` and ``aftershock experiments``."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from tqdm import tqdm

from aftershock.cli_target import run_on_target
from aftershock.runner import RunOutcome, RunPlan, dry_run, run_comparison
from chaos.library import library_names, load_experiment
from core.errors import UserError
from core.settings import Settings
from presentation.table import format_summary

__all__ = ["register"]

MAX_REPEAT = 1_000
MAX_SECONDS = 3_600.0
MAX_AGENTS = 100_000
MAX_FACTOR = 100.0


def _factor(raw: str) -> float:
    """A capacity factor: a number above 0 (and at most MAX_FACTOR)."""
    value = _bounded(float, 0, MAX_FACTOR)(raw)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{raw} is not above 0: a capacity factor multiplies the nodes, e.g. 0.5")
    return value


def _bounded(kind: type, low: float, high: float) -> Callable[[str], Any]:
    """An argparse type: ``kind`` (int or float) within ``low..high``; NaN and infinities refused."""
    def parse(raw: str) -> Any:
        try:
            value = kind(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{raw!r} is not a{'n integer' if kind is int else ' number'}") from None
        if not (math.isfinite(value) and low <= value <= high):
            raise argparse.ArgumentTypeError(f"{raw} is not in {low:g}..{high:g}")
        return value

    return parse


def _url(raw: str) -> str:
    """An http(s) URL with a host: a Prometheus-API server."""
    parts = urlsplit(raw.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in raw.strip()):
        raise argparse.ArgumentTypeError(f"{raw!r} is not an http(s) URL with a host, e.g. http://127.0.0.1:9090")
    try:
        parts.port  # noqa: B018 - raises on a port out of range or not a number
    except ValueError:
        raise argparse.ArgumentTypeError(f"{raw!r} has an invalid port") from None
    return raw.strip()


def _common(parser: argparse.ArgumentParser) -> None:
    names = ", ".join(library_names()) or "none yet"
    parser.add_argument("experiment", help=f"a library experiment ({names}) or a path")
    parser.add_argument("--topology", "-t", action="append", dest="topologies", metavar="T",
                        help="a built-in topology or a YAML file; repeat the flag (default: all three built-ins)")
    parser.add_argument("--repeat", "-n", type=_bounded(int, 1, MAX_REPEAT), default=1,
                        help=f"runs per topology, 1..{MAX_REPEAT} (>= 3 for verdicts)")
    parser.add_argument("--seed", type=_bounded(int, 0, 2**31 - 1), default=1,
                        help="workload seed of the first repeat (default 1)")
    parser.add_argument("--collector", choices=["embedded", "prometheus"], default="embedded",
                        help="embedded scraper (default) or Prometheus (started here unless --prometheus-url)")
    parser.add_argument("--prometheus-url", type=_url, help="an existing Prometheus-API server to read from")
    parser.add_argument("--warmup", type=_bounded(float, 0, MAX_SECONDS), default=10.0, metavar="S",
                        help="steady state before the fault")
    parser.add_argument("--observe", type=_bounded(float, 0, MAX_SECONDS), default=15.0, metavar="S",
                        help="recovery watched after it")
    parser.add_argument("--allow-any-provider", action="store_true",
                        help="let an experiment FILE use providers outside the Aftershock extension")
    parser.add_argument("--control", action="store_true",
                        help="also run each topology with the faults replaced by no-ops (same seed, load and "
                             "timeline): verdicts must beat the control runs' noise")
    parser.add_argument("--target", metavar="NAME", help="attach to a stored target (`aftershock target add`) "
                        "instead of starting labs; its first run is a dry run (docs/engines.md)")
    parser.add_argument("--engine", choices=["lab", "ray"], default="lab",
                        help="bring each topology up on the embedded lab (default) or on Ray (docs/engines.md)")
    parser.add_argument("--ray-address", metavar="HOST:PORT",
                        help="with --engine ray: deploy onto this Ray cluster (default: start a local one per run)")
    parser.add_argument("--dry-run", action="store_true", help="show what would be broken; break nothing")
    parser.add_argument("--json", action="store_true", help="print the JSON summary (docs/results.md)")


def register(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser("run", help="run an experiment against several topologies and compare them")
    _common(run)
    run.set_defaults(func=_run)
    sweep = sub.add_parser("sweep", help="run an experiment along one axis: fault intensity (fragility curves), "
                           "fleet size (--scale) or provisioned capacity (--capacity)")
    _common(sweep)
    axis = sweep.add_mutually_exclusive_group(required=True)
    axis.add_argument("--intensity", "-i", type=_bounded(float, 0, 1_000_000), nargs="+", metavar="K",
                      help="intensities, e.g. 0 1 2 3 (nodes lost); passed as configuration aftershock_intensity")
    axis.add_argument("--scale", type=_bounded(int, 1, MAX_AGENTS), nargs="+", metavar="N",
                      help="agent counts, e.g. 9 27 81: each topology scaled to N agents with its load scaled too "
                           "(same utilisation); harm, TTD and TTR against size")
    axis.add_argument("--capacity", type=_factor, nargs="+", metavar="F",
                      help="capacity factors, e.g. 0.5 0.75 1 1.5 2: each topology's nodes times F, the asked load "
                           "unchanged; the smallest capacity that kept the SLO through the fault")
    sweep.add_argument("--scale-regions", action="store_true",
                       help="with --scale: add regions (copies of the existing ones) instead of nodes per region")
    sweep.set_defaults(func=_run)
    exps = sub.add_parser("experiments", help="list the experiment library, or validate an experiment file")
    exps.add_argument("validate", nargs="*", metavar="FILE", help="files to validate (none: list the library)")
    exps.set_defaults(func=_experiments)


def _plan(args: argparse.Namespace) -> RunPlan:
    plan = RunPlan(experiment=args.experiment, repeat=args.repeat, seed=args.seed, collector=args.collector,
                   prometheus_url=args.prometheus_url, warmup_s=args.warmup, observe_s=args.observe,
                   allow_any_provider=args.allow_any_provider, intensities=getattr(args, "intensity", None),
                   scales=getattr(args, "scale", None), capacities=getattr(args, "capacity", None),
                   scale_regions=bool(getattr(args, "scale_regions", False)), control=args.control)
    if args.topologies:
        plan.topologies = args.topologies
    if args.ray_address and args.engine != "ray":
        raise UserError("--ray-address needs --engine ray")
    plan.engine, plan.ray_address = args.engine, args.ray_address
    if args.prometheus_url:
        plan.collector = "prometheus"
    return plan


def _run(args: argparse.Namespace, settings: Settings) -> int:
    plan = _plan(args)
    if args.target:
        return run_on_target(args, settings, plan)
    if args.dry_run:
        result = dry_run(settings, plan)
        if args.json:
            print(json.dumps(result, indent=2))
            return 0
        print(f"dry run of {result['experiment']} ({result['path']}): nothing is started or broken")
        for topo in result["topologies"]:
            print(f"  {topo['topology']} ({topo['kind']}, {topo['nodes']} processes):")
            for step in topo["steps"]:
                targets = step.get("targets", step.get("targets_error", ""))
                print(f"    {step['phase']:<24} {step['name']}: {step['function']}({json.dumps(step['arguments'])})"
                      + (f" -> {targets}" if targets else ""))
        return 0
    values = plan.axis()[1]
    total = len(plan.topologies) * plan.repeat * (len(values or [None]) + int(plan.control))
    bar = tqdm(total=total, unit="run", file=sys.stderr, disable=None, dynamic_ncols=True)

    def on_run(outcome: RunOutcome) -> None:
        bar.update(1)
        what = " control" if outcome.control else ""
        if outcome.axis in ("scale", "capacity"):
            what += f" ({outcome.axis} {outcome.axis_value:g})"
        bar.write(f"{outcome.topology} #{outcome.repeat}{what}: {outcome.status} ({outcome.run_id})", file=sys.stderr)

    try:
        summary = run_comparison(settings, plan, progress=bar.set_description_str, on_run=on_run)
    finally:
        bar.close()
    if args.json:
        print(json.dumps(summary, indent=2, allow_nan=False))
    else:
        print(format_summary(summary))
    return 0


def _experiments(args: argparse.Namespace, _settings: Settings) -> int:
    if args.validate:
        for path in args.validate:
            exp = load_experiment(path)
            print(f"{path}: ok ({exp.data.get('title', '')})")
        return 0
    for name in library_names():
        exp = load_experiment(name)
        print(f"{name:<24} {exp.data.get('title', '')}")
    return 0
