"""Entry point of every lab child process: ``python -m fleet.child ROLE CONFIG_JSON``."""

from __future__ import annotations

import json
import sys

from fleet.runtime import ChildConfig, run_child


def main(argv: list[str] | None = None) -> None:
    role, raw = (argv or sys.argv[1:])[:2]
    config = ChildConfig(json.loads(raw))
    if role == "node":
        from fleet.node import main as entry
    elif role == "hub":
        from fleet.hub import main as entry
    elif role == "clients":
        from fleet.loadgen import main as entry
    else:
        raise SystemExit(f"unknown role {role!r}")
    run_child(entry, config)


if __name__ == "__main__":
    main()
