"""``python -m engines.ray.fate CMD ...``: run CMD so that it dies with the process that started it.

The kernel's parent-death signal (``PR_SET_PDEATHSIG``) survives ``exec``, so a ``ray start --block`` started
through here is SIGKILLed the moment its supervisor dies, even by ``kill -9``; ``ray start --block`` itself shares
its fate with every Ray process it starts (raylet, GCS, agents), so nothing of a local cluster outlives the lab.
A ``preexec_fn`` would do the same but is unsafe in a process that already runs threads (Ray's driver does).
"""

from __future__ import annotations

import os
import sys

from fleet.agents.proc import set_pdeathsig

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    args = argv if argv is not None else sys.argv[1:]
    if not args:
        raise SystemExit("usage: python -m engines.ray.fate CMD [ARGS...]")
    parent = os.getppid()
    set_pdeathsig()
    if os.getppid() != parent:  # the parent died before the signal was armed
        raise SystemExit(3)
    os.execvp(args[0], args)


if __name__ == "__main__":
    main()
