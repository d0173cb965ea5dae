"""How fast a partition goes away, seen from outside the lab (traffic crossing the link again), when:

- ``stop``: ``aftershock stop --all`` is called (the bound: 2 s from the call);
- ``kill``: the controller that cut the link is killed -9 (the dead-man; bound 5 s);
- ``hang``: the controller is stopped with SIGSTOP, alive but silent (the dead-man's lease; bound 5 s).

One decentralized lab; each trial a fresh controller process (``chaos.actions.partition_regions``, holding its
lease) cuts us-east <-> eu-west, then the trial's event; probes through us-east's egress proxy every 50 ms.

    .venv/bin/python bench/bench_stop.py --trials 10
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core.settings import Settings  # noqa: E402
from core.stop import clear_stop  # noqa: E402
from core.wait import wait_until  # noqa: E402
from fleet.lab import ControlClient, lab_down, lab_up  # noqa: E402
from tests.support.safety import crosses, wait_crossing  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SRC, DST = "us-east", "eu-west"
CONTROLLER = """
import sys, time
from chaos import actions
actions.partition_regions(region=sys.argv[3], other=sys.argv[4],
                          configuration={"aftershock_home": sys.argv[1], "aftershock_lab": sys.argv[2]})
print("CUT", flush=True)
time.sleep(3600)
"""


def _trial(mode: str, settings: Settings, status: dict, client: ControlClient) -> float:
    env = {**os.environ, "AFTERSHOCK_HOME": str(settings.home)}
    ctl = subprocess.Popen([sys.executable, "-c", CONTROLLER, str(settings.home), status["name"], SRC, DST], env=env,
                           cwd=ROOT, stdout=subprocess.PIPE, text=True)
    stopper: subprocess.Popen | None = None
    try:
        assert ctl.stdout.readline().strip() == "CUT"
        assert not crosses(status, SRC, DST)
        struck = time.time()
        if mode == "stop":
            stopper = subprocess.Popen([sys.executable, "-m", "aftershock", "stop", "--all", "--wait", "0"], env=env,
                                       cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        else:
            os.kill(ctl.pid, signal.SIGKILL if mode == "kill" else signal.SIGSTOP)
        return wait_crossing(status, SRC, DST, timeout_s=60) - struck
    finally:
        if stopper is not None:
            stopper.wait(120)  # it sets the stop again when it finishes: clear only after
        os.kill(ctl.pid, signal.SIGCONT)
        ctl.kill()
        ctl.wait(30)
        ctl.stdout.close()
        clear_stop(settings.home)
        client.heal()
        wait_until(lambda: crosses(status, SRC, DST, timeout_s=3), 60, what="the lab healed between trials")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10, help="trials per mode")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="aftershock-stop-") as tmp:
        settings = Settings(home=Path(tmp) / "home").ensure()
        status = lab_up(settings, "decentralized", name="bench-stop")
        client = ControlClient.for_lab(status, timeout_s=30)
        out: dict = {"machine": f"{os.cpu_count()} cores, {platform.python_version()}",
                     "load_before": round(os.getloadavg()[0], 1)}
        try:
            for mode in ("stop", "kill", "hang"):
                times = [_trial(mode, settings, status, client) for _ in range(args.trials)]
                out[mode] = {"trials": len(times), "median_s": round(statistics.median(times), 2),
                             "max_s": round(max(times), 2), "all_s": [round(t, 2) for t in times]}
                print(f"{mode}: median {out[mode]['median_s']} s, max {out[mode]['max_s']} s", file=sys.stderr)
        finally:
            lab_down(settings, status["name"])
        out["load_after"] = round(os.getloadavg()[0], 1)
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
