"""``aftershock schedule ...`` and ``aftershock scheduler``: a thin layer over :mod:`scheduling`."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from datetime import datetime
from typing import Any

from core.errors import ScheduleError
from core.settings import Settings
from scheduling import (
    Schedule,
    ScheduleBook,
    SubprocessRun,
    next_fire_times,
    run_attempt,
    run_due,
    serve,
    validate_schedule,
)
from scheduling.book import DB_NAME as BOOK_FILE

__all__ = ["register", "RUN_COMMAND_ENV"]

#: Testing hook: the command used instead of ``python -m aftershock.cli`` to start runs (shell words).
RUN_COMMAND_ENV = "AFTERSHOCK_SCHEDULE_RUN_COMMAND"


def register(sub: argparse._SubParsersAction) -> None:
    schedule = sub.add_parser("schedule", help="cron schedules of chaos runs (add, list, run-due, history, ...)")
    actions = schedule.add_subparsers(dest="schedule_command", metavar="ACTION")
    actions.required = True
    add = actions.add_parser("add", help="add a schedule (validated now: cron, experiment, topologies)")
    add.add_argument("name", help="schedule name (letters, digits, . _ -)")
    add.add_argument("experiment", help="a library experiment or a path")
    add.add_argument("--cron", required=True, metavar="EXPR",
                     help="cron expression in local time, e.g. '0 3 * * *'; an optional 6th field is seconds")
    add.add_argument("--topology", "-t", action="append", dest="topologies", metavar="T",
                     help="a built-in topology or a YAML file; repeat the flag (default: all three built-ins)")
    add.add_argument("--repeat", "-n", type=int, default=1, help="runs per topology")
    add.add_argument("--gate-budget", type=float, metavar="FRACTION",
                     help="skip a run when a topology's recent burn exceeds this share (0..1) of its 30-day budget")
    add.add_argument("--warmup", type=float, default=10.0, metavar="S", help="steady state before the fault")
    add.add_argument("--observe", type=float, default=15.0, metavar="S", help="recovery watched after it")
    add.add_argument("--grace", type=float, default=900.0, metavar="S",
                     help="a fire missed by up to S seconds still runs once (default 900)")
    add.add_argument("--timeout", type=float, default=3600.0, metavar="S", help="stop a run after S seconds")
    add.add_argument("--paused", action="store_true", help="add it paused")
    add.set_defaults(func=_add)
    ls = actions.add_parser("list", help="schedules with next fire, last outcome and regression flags")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(func=_list)
    for verb, help_text in (("remove", "delete a schedule (its history stays)"), ("pause", "stop firing a schedule"),
                            ("resume", "fire a paused schedule again (fires that passed while paused are not owed)")):
        p = actions.add_parser(verb, help=help_text)
        p.add_argument("name")
        p.set_defaults(func=_change, verb=verb)
    hist = actions.add_parser("history", help="every attempt of a schedule: outcome, comparison, reason, flags")
    hist.add_argument("name")
    hist.add_argument("--limit", type=int, default=20)
    hist.add_argument("--json", action="store_true")
    hist.set_defaults(func=_history)
    run = actions.add_parser("run", help="run one schedule now (gate and lock apply)")
    run.add_argument("name")
    run.add_argument("--json", action="store_true")
    run.set_defaults(func=_run_now)
    due = actions.add_parser("run-due", help="one shot for cron/CI/CronJob: run what is due now, record misses")
    due.add_argument("names", nargs="*", metavar="NAME", help="only these schedules (default: all)")
    due.add_argument("--json", action="store_true")
    due.set_defaults(func=_run_due)
    sched = sub.add_parser("scheduler", help="run the schedules in the foreground (systemd, containers)")
    sched.add_argument("--sync-interval", type=float, default=5.0, metavar="S",
                       help="re-read the schedules every S seconds (default 5)")
    sched.set_defaults(func=_scheduler)


def _run_fn() -> Any:
    command = os.environ.get(RUN_COMMAND_ENV, "").strip()
    return SubprocessRun(command=shlex.split(command)) if command else SubprocessRun()


def _when(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def _book(settings: Settings) -> Any:
    return ScheduleBook.open(settings.home)


def _existing_book(settings: Settings, name: str) -> Any:
    """The book, for commands about one schedule: none recorded yet means no such schedule (nothing created)."""
    if not (settings.home / BOOK_FILE).exists():
        raise ScheduleError(f"no schedule named {name!r}; list them with `aftershock schedule list`")
    return ScheduleBook.open(settings.home)


def _add(args: argparse.Namespace, settings: Settings) -> int:
    schedule = Schedule(name=args.name, cron=args.cron, experiment=args.experiment,
                        topologies=args.topologies or ["centralized", "decentralized", "hybrid"], repeat=args.repeat,
                        gate_budget=args.gate_budget, warmup_s=args.warmup, observe_s=args.observe,
                        grace_s=args.grace, timeout_s=args.timeout, paused=args.paused)
    validate_schedule(schedule)  # before the book is opened: bad input stores nothing
    with _book(settings) as book:
        book.add(schedule)

    print(f"schedule {schedule.name} added: {schedule.experiment} on {', '.join(schedule.topologies)}, "
          f"next fire {_when(next_fire_times(schedule.cron, time.time())[0])}")
    return 0


def _list(args: argparse.Namespace, settings: Settings) -> int:
    rows = []
    with _book(settings) as book:
        for s in book.list():
            last = book.attempts(s.name, limit=1)
            rows.append({**s.to_dict(), "next_fire": None if s.paused else next_fire_times(s.cron, time.time())[0],
                         "last_attempt": last[0].to_dict() if last else None})
    if args.json:
        print(json.dumps(rows, indent=2, allow_nan=False))
        return 0
    if not rows:
        print("no schedules; add one with `aftershock schedule add NAME --cron '0 3 * * *' EXPERIMENT`")
        return 0
    for row in rows:
        last = row["last_attempt"]
        state = "paused" if row["paused"] else f"next {_when(row['next_fire'])}"
        outcome = f"last {last['outcome']} {_when(last['fire_time'])}" if last else "never ran"
        print(f"{row['name']:<20} {row['cron']:<16} {row['experiment']} on {','.join(row['topologies'])}  "
              f"{state}  {outcome}")
        for flag in (last or {}).get("regressions") or []:
            print(f"  REGRESSION {flag['message']}")
    return 0


def _change(args: argparse.Namespace, settings: Settings) -> int:
    with _existing_book(settings, args.name) as book:
        if args.verb == "remove":
            book.remove(args.name)
        else:
            book.set_paused(args.name, args.verb == "pause")
    print(f"schedule {args.name}: {args.verb}d")
    return 0


def _print_attempts(attempts: list[Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps([a.to_dict() for a in attempts], indent=2, allow_nan=False))
        return
    for a in attempts:
        print(f"{_when(a.fire_time)}  {a.schedule:<16} {a.trigger:<8} {a.outcome:<9} {a.comparison_id or '-':<24} "
              f"{a.reason or ''}".rstrip())
        for flag in a.regressions:
            print(f"  REGRESSION {flag['message']}")


def _history(args: argparse.Namespace, settings: Settings) -> int:
    with _existing_book(settings, args.name) as book:
        book.get(args.name)
        attempts = book.attempts(args.name, limit=args.limit)
    _print_attempts(attempts, args.json)
    return 0


def _exit_code(attempts: list[Any]) -> int:
    return 1 if any(a.outcome == "failed" for a in attempts) else 0


def _run_now(args: argparse.Namespace, settings: Settings) -> int:
    with _existing_book(settings, args.name) as book:
        schedule = book.get(args.name)
        settings.ensure()
        attempt = run_attempt(book, settings, schedule, time.time(), _run_fn(), trigger="manual")
    attempts = [attempt] if attempt is not None else []
    _print_attempts(attempts, args.json)
    return _exit_code(attempts)


def _run_due(args: argparse.Namespace, settings: Settings) -> int:
    settings.ensure()
    with _book(settings) as book:
        for name in args.names:
            book.get(name)
        attempts = run_due(book, settings, _run_fn(), names=args.names or None)
    _print_attempts(attempts, args.json)
    if not attempts and not args.json:
        print("nothing due", file=sys.stderr)
    return _exit_code(attempts)


def _scheduler(args: argparse.Namespace, settings: Settings) -> int:
    settings.ensure()

    def ready(count: int) -> None:
        print(f"aftershock scheduler: {count} active schedule(s) in {settings.home}; Ctrl-C or SIGTERM stops",
              file=sys.stderr, flush=True)

    serve(settings, _run_fn(), sync_interval_s=args.sync_interval, on_ready=ready)
    return 0
