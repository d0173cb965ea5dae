"""The one place that builds and spawns an ``aftershock run`` process.

The dashboard's Launch page, the scheduler and ``aftershock demo`` all start runs as child processes of
the same command line; building the argv here keeps them from drifting apart (a flag renamed in one
place and not in the others).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["RunCommand", "default_command", "spawn_run"]


def default_command() -> list[str]:
    """``python -m aftershock.cli`` with this interpreter: the command line that runs experiments."""
    return [sys.executable, "-m", "aftershock.cli"]


@dataclass(frozen=True)
class RunCommand:
    """``aftershock run EXPERIMENT -t T ... [--repeat N] [--warmup S] [--observe S] [--json]`` as data."""

    experiment: str
    topologies: Sequence[str] = ()
    repeat: int = 1
    warmup_s: float | None = None
    observe_s: float | None = None
    json: bool = True
    extra: Sequence[str] = field(default_factory=tuple)

    def argv(self, command: Sequence[str] | None = None) -> list[str]:
        argv = [*(command or default_command()), "run", self.experiment]
        for topo in self.topologies:
            argv += ["--topology", topo]
        argv += ["--repeat", str(int(self.repeat))]
        for flag, value in (("--warmup", self.warmup_s), ("--observe", self.observe_s)):
            if value is not None:
                argv += [flag, f"{float(value):g}"]
        if self.json:
            argv.append("--json")
        return [*argv, *self.extra]


def spawn_run(run: RunCommand, home: Path, *, command: Sequence[str] | None = None,
              env: Mapping[str, str] | None = None, popen: Callable[..., subprocess.Popen] = subprocess.Popen,
              **popen_kwargs: Any) -> subprocess.Popen:
    """Start the run in a child process whose ``$AFTERSHOCK_HOME`` is ``home``; stdin is never inherited."""
    child_env = {**os.environ, **(env or {}), "AFTERSHOCK_HOME": str(home)}
    popen_kwargs.setdefault("stdin", subprocess.DEVNULL)
    return popen(run.argv(command), env=child_env, **popen_kwargs)
