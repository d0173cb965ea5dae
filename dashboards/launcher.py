"""Actions that change the world from the dashboard: labs up/down and experiment launches.

Launches run ``aftershock run EXPERIMENT ... --json`` as a background subprocess (its own session, so a
page rerun never kills it), with stdout/stderr in ``$AFTERSHOCK_HOME/dashboard/launches/``. Only
library experiments and known topologies are accepted: the dashboard never runs an uploaded file.
"""

from __future__ import annotations

import json
import logging
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import psutil

from chaos.library import library_names
from core.audit import ENV_ACTOR
from core.errors import UserError
from core.runproc import RunCommand, spawn_run
from core.settings import Settings
from core.stop import check_not_stopped
from fleet.lab import lab_down, lab_up
from fleet.topology import builtin_names

__all__ = ["MAX_REPEAT", "Launch", "library_experiments", "topology_names", "launch",
           "list_launches", "launch_output", "start_lab", "stop_lab", "launches_dir"]

log = logging.getLogger("aftershock.dashboards")

MAX_REPEAT = 10
_PROCS: dict[str, subprocess.Popen] = {}  # children of this server process, polled so they never linger as zombies


@dataclass(frozen=True)
class Launch:
    launch_id: str
    experiment: str
    topologies: list[str]
    repeat: int
    pid: int
    started_at: float
    stdout: str
    stderr: str


def library_experiments() -> list[str]:
    return library_names()


def topology_names() -> list[str]:
    return builtin_names()


def launches_dir(settings: Settings) -> Path:
    return settings.home / "dashboard" / "launches"


def launch(settings: Settings, experiment: str, topologies: list[str], repeat: int = 1, *,
           warmup_s: float | None = None, observe_s: float | None = None, python: str = sys.executable,
           popen: Callable[..., subprocess.Popen] = subprocess.Popen, actor: str | None = None) -> Launch:
    """Start ``aftershock run`` in the background; raises :class:`UserError` for anything not in the library.

    ``actor`` (``dashboard session ID``) is who the audit log names for the run's injections and rollbacks."""
    check_not_stopped(settings.home, "launch")  # the emergency stop: say so here, not as a failed launch
    if experiment not in library_experiments():
        raise UserError(f"{experiment!r} is not a library experiment; the dashboard only runs chaos/experiments/*")
    known = topology_names()
    bad = [t for t in topologies if t not in known]
    if bad or not topologies:
        raise UserError(f"choose topologies among {', '.join(known)} (got {', '.join(bad) or 'none'})")
    if not 1 <= int(repeat) <= MAX_REPEAT:
        raise UserError(f"repeat must be between 1 and {MAX_REPEAT}")
    folder = launches_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    launch_id = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)
    out, err = folder / f"{launch_id}.json", folder / f"{launch_id}.log"
    for flag, value in (("warmup", warmup_s), ("observe", observe_s)):
        if value is not None and not 1.0 <= float(value) <= 3600.0:
            raise UserError(f"{flag} must be between 1 and 3600 seconds")
    run = RunCommand(experiment, tuple(topologies), int(repeat), warmup_s, observe_s)
    argv = run.argv([python, "-m", "aftershock.cli"])
    with open(out, "wb") as fo, open(err, "wb") as fe:
        proc = spawn_run(run, settings.home, command=[python, "-m", "aftershock.cli"], popen=popen,
                         env={ENV_ACTOR: actor} if actor else None, stdout=fo,
                         stderr=fe, start_new_session=True, cwd=str(Path(__file__).resolve().parent.parent))
    _PROCS[launch_id] = proc
    record = Launch(launch_id, experiment, list(topologies), int(repeat), proc.pid, time.time(), str(out), str(err))
    (folder / f"{launch_id}.meta.json").write_text(json.dumps(asdict(record)))
    log.info("launched %s: %s", launch_id, " ".join(argv))
    return record


def _running(launch_id: str, pid: int, started_at: float) -> bool:
    proc = _PROCS.get(launch_id)
    if proc is not None:
        return proc.poll() is None
    try:
        p = psutil.Process(pid)
        return p.status() != psutil.STATUS_ZOMBIE and p.create_time() <= started_at + 1
    except psutil.Error:
        return False


def launch_output(record: dict[str, Any], tail_lines: int = 12) -> dict[str, Any]:
    """State of one launch: ``running``, ``returncode`` (when known), the comparison id once done, log tail."""
    running = _running(record["launch_id"], record["pid"], record["started_at"])
    proc = _PROCS.get(record["launch_id"])
    result: dict[str, Any] = {"running": running, "returncode": None if proc is None else proc.returncode,
                              "comparison_id": None, "log": ""}
    try:
        lines = Path(record["stderr"]).read_text(errors="replace").splitlines()
        result["log"] = "\n".join(lines[-tail_lines:])
    except OSError:
        pass
    if not running:
        try:
            result["comparison_id"] = json.loads(Path(record["stdout"]).read_text()).get("comparison_id")
        except (OSError, ValueError, AttributeError):
            pass
    return result


def list_launches(settings: Settings, limit: int = 10) -> list[dict[str, Any]]:
    """Recent launches, newest first, each with its current state."""
    folder = launches_dir(settings)
    if not folder.is_dir():
        return []
    out = []
    for meta in sorted(folder.glob("*.meta.json"), reverse=True)[:limit]:
        try:
            record = json.loads(meta.read_text())
        except (OSError, ValueError):
            continue
        out.append({**record, **launch_output(record)})
    return out


def start_lab(settings: Settings, topology: str) -> dict[str, Any]:
    """Start a lab of a built-in topology (blocks until it serves)."""
    if topology not in topology_names():
        raise UserError(f"unknown topology {topology!r}")
    return lab_up(settings, topology)


def stop_lab(settings: Settings, name: str) -> dict[str, Any]:
    return lab_down(settings, name)
