"""``aftershock grafana export``: the dashboard's panels as a Grafana dashboard, fault windows as annotations.

The building is in ``presentation.grafana`` (grafana-foundation-sdk models); this parses, reads the store for
the annotations and writes files. docs/dashboard.md#grafana shows how to import both.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from core.errors import UserError
from core.settings import Settings
from presentation.grafana import DEFAULT_UID, build_dashboard, dashboard_json, fault_annotations
from store import RunStore

__all__ = ["register", "UID_PATTERN"]

#: Grafana's uid rule: up to 40 letters, digits, '-' or '_'
UID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,40}$")


def register(sub: argparse._SubParsersAction) -> None:
    grafana = sub.add_parser("grafana", help="export a Grafana dashboard of the same panels (Prometheus series)")
    actions = grafana.add_subparsers(dest="grafana_action", metavar="ACTION")
    actions.required = True
    export = actions.add_parser("export", help="write the dashboard JSON (and the fault windows as annotations)")
    export.add_argument("--datasource", metavar="UID",
                        help="the Prometheus data source's uid in Grafana (default: a data source variable)")
    export.add_argument("--out", "-o", type=Path, metavar="FILE", help="write the dashboard here (default: stdout)")
    export.add_argument("--uid", default=DEFAULT_UID, help=f"the dashboard's uid (default {DEFAULT_UID})")
    export.add_argument("--annotations", type=Path, metavar="FILE",
                        help="also write the stored runs' fault windows as Grafana annotations (a JSON list of "
                             "POST /api/annotations bodies)")
    export.add_argument("--comparison", "-c", action="append", dest="comparisons", metavar="ID",
                        help="with --annotations: only these comparisons (repeat the flag; default: every one)")
    export.set_defaults(func=_export)


def _uid(value: str | None, what: str) -> str | None:
    if value is not None and not UID_PATTERN.match(value):
        raise UserError(f"{what} {value!r} is not a Grafana uid: use up to 40 letters, digits, '-' or '_'")
    return value


def _annotations(settings: Settings, comparisons: list[str] | None) -> list[dict]:
    if not (settings.store_dir / "runs.sqlite").exists():
        raise UserError(f"no run store at {settings.store_dir}: run an experiment first (`aftershock run node-loss`)")
    with RunStore.open(settings.store_dir, readonly=True) as store:
        ids = comparisons or list(store.list_comparisons()["comparison_id"])
        runs = [run for cid in ids for run in store.get_comparison(cid).runs]
        windows = {run.run_id: store.load_fault_windows(run.run_id) or [] for run in runs}
    return fault_annotations(runs, windows)


def _write(path: Path, text: str) -> None:
    """Atomically: a failed export leaves no half-written file."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror}") from None


def _export(args: argparse.Namespace, settings: Settings) -> int:
    uid = _uid(args.datasource, "--datasource")
    _uid(args.uid, "--uid")
    if args.comparisons and not args.annotations:
        raise UserError("--comparison selects the annotations: add --annotations FILE")
    annotations = _annotations(settings, args.comparisons) if args.annotations else None
    text = dashboard_json(build_dashboard(datasource_uid=uid, uid=args.uid))
    if args.out:
        _write(args.out, text)
        print(f"dashboard written to {args.out} ({len(json.loads(text)['panels'])} panels)", file=sys.stderr)
    else:
        print(text)
    if annotations is not None:
        _write(args.annotations, json.dumps(annotations, indent=1))
        print(f"{len(annotations)} fault window(s) written to {args.annotations}", file=sys.stderr)
    return 0
