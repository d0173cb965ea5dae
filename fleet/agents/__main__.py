"""Entry point of every lab child process: ``python -m fleet.agents ROLE NAME``, its config on stdin.

The config arrives as JSON on stdin (an inherited pipe the supervisor writes and closes) because it holds the
lab's token: any user of the machine can read a command line (``ps``), and an environment lives as long as the
process (``/proc/PID/environ``); a pipe is read once and gone. ROLE and NAME are on the command line only so
that ``ps`` says which process is which.
"""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import BinaryIO

from fleet.agents import hub, loadgen, node
from fleet.agents.config import ChildConfig
from fleet.agents.runtime import run_child

__all__ = ["main", "ENTRIES"]

ENTRIES: dict[str, Callable[[ChildConfig], Awaitable[None]]] = {
    "node": node.main,
    "hub": hub.main,
    "clients": loadgen.main,
}


def main(argv: list[str] | None = None, stdin: BinaryIO | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    if len(args) != 2 or args[0] not in ENTRIES:
        raise SystemExit(f"usage: python -m fleet.agents {{{','.join(ENTRIES)}}} NAME  (config as JSON on stdin)")
    role, name = args
    config = ChildConfig.from_json((stdin or sys.stdin.buffer).read())
    if (config.role, config.name) != (role, name):
        raise SystemExit(f"started as {role} {name} with the config of {config.role} {config.name}")
    run_child(ENTRIES[role], config)


if __name__ == "__main__":
    main()
