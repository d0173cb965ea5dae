"""Run every benchmark of ``bench/`` one after another (``make bench``), each with the arguments its section of
docs/benchmarks.md documents, and say which machine they ran on.

Benchmarks are never run by the test suite: they take minutes and their figures move with the machine's load.
Each one prints its own command line and results; this script adds the machine and stops at the first
benchmark that fails (exit code 1) so a broken benchmark is not mistaken for a slow one. Pass names to run a
subset: ``python bench/run_all.py store dashboard``. Benchmarks added by later work are listed in ``BENCHMARKS``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent

#: name -> (script, arguments); the arguments are the documented "quick" forms of each benchmark.
BENCHMARKS: dict[str, tuple[str, list[str]]] = {
    "store": ("bench_store.py", []),
    "collectors": ("bench_collectors.py", ["--targets", "30", "--seconds", "30"]),
    "dashboard": ("bench_dashboard.py", ["--hours", "1", "--rate", "20", "--series-hz", "4"]),
    "lab": ("bench_lab.py", ["--ladder", "default", "--measure-s", "15", "--lab", "baseline,uvloop/udp/fork"]),
    "ray": ("bench_ray.py", ["--ladder", "quick", "--measure-s", "15"]),
}


def machine() -> str:
    mem = psutil.virtual_memory().total / 2**30
    cpu = platform.processor() or platform.machine()
    return (f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default: all of {', '.join(BENCHMARKS)})")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose among {', '.join(BENCHMARKS)}")
    names = args.names or list(BENCHMARKS)
    present = {n: b for n, b in BENCHMARKS.items() if (HERE / b[0]).is_file()}
    print(f"machine: {machine()}", flush=True)
    for name in names:
        if name not in present:
            print(f"== {name}: {BENCHMARKS[name][0]} is missing; skipped", flush=True)
            continue
        script, extra = present[name]
        cmd = [sys.executable, str(HERE / script), *extra]
        print(f"\n== {name}: {shlex.join(cmd)}", flush=True)
        started = time.monotonic()
        rc = subprocess.call(cmd)
        print(f"== {name}: exit {rc} after {time.monotonic() - started:.0f} s", flush=True)
        if rc != 0:
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
