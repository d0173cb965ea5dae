"""``aftershock stop`` (the emergency stop) and ``aftershock audit`` (the audit log); the work is in
``chaos.emergency`` and ``core.audit``."""

from __future__ import annotations

import argparse
import json
import sys
import time

from chaos.emergency import clear_emergency_stop, current_stop, emergency_stop
from core.audit import actor, read_audit
from core.errors import UserError
from core.settings import Settings

__all__ = ["register"]

DEFAULT_WAIT_S = 15.0


def register(sub: argparse._SubParsersAction) -> None:
    stop = sub.add_parser("stop", help="emergency stop: revert every fault in every lab, abort and refuse runs")
    what = stop.add_mutually_exclusive_group(required=True)
    what.add_argument("--all", action="store_true", help="set the stop: every lab healed, running experiments "
                                                         "aborted (rollbacks run), new runs refused")
    what.add_argument("--clear", action="store_true", help="lift the stop: runs and chaos are allowed again")
    what.add_argument("--status", action="store_true", help="say whether a stop is in force")
    stop.add_argument("--reason", default="", help="why (kept in the stop file and the audit log)")
    stop.add_argument("--wait", type=float, default=DEFAULT_WAIT_S, metavar="S",
                      help=f"with --all: wait up to S s for running experiments to end (default {DEFAULT_WAIT_S:g})")
    stop.add_argument("--json", action="store_true", help="print JSON")
    stop.set_defaults(func=_stop)

    audit = sub.add_parser("audit", help="the audit log: injections, rollbacks, stops and clears, with who")
    audit.add_argument("--limit", type=int, default=50, help="the last N entries (default 50)")
    audit.add_argument("--json", action="store_true", help="print JSON lines")
    audit.set_defaults(func=_audit)


def _stop(args: argparse.Namespace, settings: Settings) -> int:
    if not 0 <= args.wait <= 600:
        raise UserError(f"--wait must be between 0 and 600 seconds, not {args.wait:g}")
    if len(args.reason) > 500 or any(c in args.reason for c in "\r\n"):
        raise UserError("--reason must be one line of at most 500 characters")
    if args.status:
        state = current_stop(settings)
        if args.json:
            print(json.dumps({"stopped": state is not None, **(state.__dict__ if state else {})}))
        else:
            print(state.describe() if state else "no emergency stop in force")
        return 0
    who = actor()
    if args.clear:
        report = clear_emergency_stop(settings, who)
        if args.json:
            print(json.dumps({"cleared": report.cleared is not None, "who": who}))
        elif report.cleared is None:
            print("no emergency stop was in force; nothing to clear")
        else:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(report.cleared.since))
            print(f"cleared the emergency stop set at {when} by {report.cleared.who}; runs and chaos are allowed again")
        return 0
    settings.ensure()
    report = emergency_stop(settings, who, args.reason, wait_runs_s=args.wait)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(f"{report.state.describe()}: {len(report.labs)} lab(s) healed in {report.seconds:.2f} s")
        for heal in report.labs:
            if heal.ok:
                if heal.result.get("lab") == "down":
                    print(f"  {heal.lab}: already down (its run ended on the stop): nothing left to revert")
                    continue
                restarted = ", ".join(heal.result.get("restarted") or []) or "none"
                print(f"  {heal.lab}: faults reverted in {heal.seconds:.2f} s (nodes restarted: {restarted})")
            else:
                print(f"  {heal.lab}: NOT healed ({heal.error}); its supervisor reverts faults on its own")
        ended = {r["run_id"]: r["status"] for r in report.runs_ended}
        for run in report.runs_aborting:
            status = ended.get(run["run_id"], "still running")
            print(f"  run {run['run_id']} ({run['experiment']} on {run['topology']}): {status}")
        print("new runs are refused until `aftershock stop --clear`")
    return 0 if all(h.ok for h in report.labs) else 1


def _audit(args: argparse.Namespace, settings: Settings) -> int:
    if not 1 <= args.limit <= 100_000:
        raise UserError(f"--limit must be between 1 and 100000, not {args.limit}")
    entries, bad = read_audit(settings.home, limit=args.limit)
    if args.json:
        for entry in entries:
            print(entry.to_json())
    elif not entries:
        print(f"the audit log {settings.audit_log} is empty")
    for entry in [] if args.json else entries:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.ts))
        where = " ".join(f"{k}={v}" for k, v in (("run", entry.run), ("lab", entry.lab), ("target", entry.target))
                         if v)
        print(f"{when}  {entry.action:<8}  {entry.who:<28}  {where}")
    if bad:
        print(f"aftershock: {bad} unreadable line(s) in {settings.audit_log} skipped", file=sys.stderr)
    return 0
