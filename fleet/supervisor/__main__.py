"""The supervisor process: ``python -m fleet.supervisor --lab-dir DIR --name NAME --seed N [--owner-pid PID]
[--event-loop uvloop|asyncio]``.

``fleet.lab.lab_up`` starts it detached; it reads the topology and the token from the lab directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
from pathlib import Path
from typing import get_args

from core.settings import DEFAULT_MAX_FAULT_S
from fleet.agents.runtime import DEFAULT_EVENT_LOOP, EVENT_LOOPS, run_loop
from fleet.presets import LabOptions, PeerTransport, Spawn
from fleet.supervisor.supervisor import Supervisor
from fleet.topology import parse_topology

__all__ = ["main"]

log = logging.getLogger("aftershock.fleet.supervisor")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m fleet.supervisor")
    parser.add_argument("--lab-dir", type=Path, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--owner-pid", type=int, default=None, help="stop the lab when this process is gone")
    parser.add_argument("--max-fault-s", type=float, default=DEFAULT_MAX_FAULT_S,
                        help="hard cap on any fault's duration (the dead-man reverts older faults)")
    parser.add_argument("--event-loop", choices=EVENT_LOOPS, default=DEFAULT_EVENT_LOOP,
                        help="the event loop of the supervisor and every lab process (uvloop: less CPU per message)")
    parser.add_argument("--peer-transport", choices=get_args(PeerTransport), default=LabOptions().peer_transport,
                        help="mesh SWIM and replication as datagrams (udp) or HTTP calls (http)")
    parser.add_argument("--spawn", choices=get_args(Spawn), default=LabOptions().spawn,
                        help="children forked by the lab's fork server (fork) or each started by exec (exec)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s supervisor %(levelname)s %(message)s")
    topo = parse_topology(json.loads((args.lab_dir / "topology.json").read_text()), str(args.lab_dir))
    supervisor = Supervisor(topo, args.name, args.seed, args.lab_dir, owner_pid=args.owner_pid,
                            max_fault_s=args.max_fault_s, options=LabOptions(
                                args.event_loop, args.peer_transport, args.spawn))

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.add_signal_handler(sig, stop.set)
        await supervisor.run(stop)

    try:
        run_loop(run(), args.event_loop)
    except Exception as exc:
        log.exception("lab %s failed", args.name)
        supervisor.write_state(failed=True, stopped=True, error=f"{type(exc).__name__}: {exc}")
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
