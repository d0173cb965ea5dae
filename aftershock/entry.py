"""The ``aftershock`` command's entry point: the emergency stop takes effect before the rest of the CLI loads.

Why: importing the whole command line (pandas, plotly, chaoslib, the reports) takes seconds on a small machine,
and an emergency stop is promised to revert every fault within 2 s of being asked. ``aftershock stop --all``
therefore writes the stop file first, here, with nothing but the ground layer loaded; every lab supervisor
honours the file within a quarter of a second (fleet/supervisor/deadman.py). Then the full command runs as usual
(it heals every lab directly, waits for the running experiments to abort, and reports).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from core.audit import actor, record
from core.errors import UserError
from core.settings import default_home
from core.stop import set_stop, stop_state

__all__ = ["main", "stop_first"]

_OTHER_MODES = {"--clear", "--status", "-h", "--help"}


def _reason(argv: Sequence[str]) -> str | None:
    """The ``--reason`` value, '' when absent, None when it is malformed (the full command reports that)."""
    for i, arg in enumerate(argv):
        if arg == "--reason":
            return argv[i + 1] if i + 1 < len(argv) else None
        if arg.startswith("--reason="):
            return arg.split("=", 1)[1]
    return ""


def stop_first(argv: Sequence[str]) -> bool:
    """For ``stop --all``: write the stop file now; True when it was written."""
    if not argv or argv[0] != "stop" or "--all" not in argv or _OTHER_MODES.intersection(argv):
        return False
    reason = _reason(argv[1:])
    if reason is None or len(reason) > 500 or "\n" in reason or "\r" in reason:
        return False
    home, who = default_home(), actor()
    try:
        before = stop_state(home)
        state = set_stop(home, who, reason)
    except (OSError, UserError):  # the full command says what is wrong
        return False
    if before is None or before.who == "unknown":  # recorded at the moment it takes effect
        record(home, "stop", who, target="all", reason=reason, since=state.since,
               phase="stop file written: every lab reverts its faults on its own")
    return True


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    stop_first(args)
    # Imported here, after the stop: the full command line takes seconds to import.
    from aftershock.cli import main as cli_main

    return cli_main(args) if argv is not None else cli_main()
