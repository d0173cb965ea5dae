"""The ``aftershock`` command: argument parsing, progress and exit codes; the work is in the library.

User errors (:class:`core.errors.UserError`) become one line on stderr and exit code 2.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from aftershock import (
    __version__,
    cli_dashboard,
    cli_grafana,
    cli_lab,
    cli_report,
    cli_run,
    cli_schedule,
    cli_stop,
    cli_store,
    cli_target,
)
from core.errors import UserError
from core.procguard import ENV_PARENT_PID, ENV_PARENT_SIGNAL, guard_from_env
from core.settings import Settings

__all__ = ["main", "build_parser", "MAX_MESSAGE"]

#: An error message longer than this (it echoes a huge argument) is cut in the middle.
MAX_MESSAGE = 1_000

# Each module adds its subcommands.
_AREAS = (cli_lab, cli_store, cli_run, cli_dashboard, cli_schedule, cli_report, cli_stop, cli_target,
          cli_grafana)


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line (what is wrong, where to look), exit code 2, like every user error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="aftershock",
        description="Run agent deployments, break them with chaos experiments, measure how they degrade and recover.",
    )
    parser.add_argument("--version", action="version", version=f"aftershock {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details to stderr")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for area in _AREAS:
        area.register(sub)
    return parser


def main(argv: Sequence[str] | None = None, settings: Settings | None = None) -> int:
    if argv is None:  # the real command line: die with the parent that asked for it (dashboards/server.py)
        guard_from_env(os.environ)
        for key in (ENV_PARENT_PID, ENV_PARENT_SIGNAL):
            os.environ.pop(key, None)  # never inherited by the processes we start
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    if not args.verbose:
        # chaoslib narrates every rollback decision at WARNING; the runner reports outcomes itself.
        logging.getLogger("chaostoolkit").setLevel(logging.ERROR)
    func: Callable[[argparse.Namespace, Settings], int] = args.func
    try:
        settings = settings or Settings.from_env()
        return int(func(args, settings) or 0)
    except UserError as exc:
        message = " ".join(str(exc).split())  # always one line, and a readable one
        if len(message) > MAX_MESSAGE:
            message = f"{message[:MAX_MESSAGE // 2]} ... {message[-MAX_MESSAGE // 4:]}"
        print(f"aftershock: error: {message}", file=sys.stderr)
        return exc.exit_code
    except BrokenPipeError:  # output piped into `head` and the like
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("aftershock: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
