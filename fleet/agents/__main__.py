"""Entry point of every lab child process: ``python -m fleet.agents ROLE CONFIG_JSON``."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable

from fleet.agents import hub, loadgen, node
from fleet.agents.config import ChildConfig
from fleet.agents.runtime import run_child

__all__ = ["main", "ENTRIES"]

ENTRIES: dict[str, Callable[[ChildConfig], Awaitable[None]]] = {
    "node": node.main,
    "hub": hub.main,
    "clients": loadgen.main,
}


def main(argv: list[str] | None = None) -> None:
    role, raw = (argv or sys.argv[1:])[:2]
    if role not in ENTRIES:
        raise SystemExit(f"unknown role {role!r} (roles: {', '.join(ENTRIES)})")
    config = ChildConfig.from_json(raw)
    if config.role != role:
        raise SystemExit(f"started as {role!r} with the config of a {config.role!r}")
    run_child(ENTRIES[role], config)


if __name__ == "__main__":
    main()
