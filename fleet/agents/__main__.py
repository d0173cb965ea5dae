"""Entry point of every lab child process: ``python -m fleet.agents ROLE CONFIG_JSON``."""

from __future__ import annotations

import json
import sys

from fleet.agents.runtime import ChildConfig, run_child


def main(argv: list[str] | None = None) -> None:
    role, raw = (argv or sys.argv[1:])[:2]
    config = ChildConfig(json.loads(raw))
    if role == "node":
        from fleet.agents.node import main as entry
    elif role == "hub":
        from fleet.agents.hub import main as entry
    elif role == "clients":
        from fleet.agents.loadgen import main as entry
    else:
        raise SystemExit(f"unknown role {role!r}")
    run_child(entry, config)


if __name__ == "__main__":
    main()
