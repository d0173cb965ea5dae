"""Bring labs up and down, read their status, and drive their control API: what the CLI, chaos,
collectors and tests use. The supervisor runs detached; its state file is the source of truth.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import psutil
import requests

from core.errors import LabError, LabNotFound, UserError
from core.settings import Settings
from core.wait import wait_until
from fleet.presets import LabOptions
from fleet.topology import Topology, load_topology

__all__ = ["check_lab_name", "lab_up", "lab_down", "lab_status", "list_labs", "ControlClient", "LAB_NAME_RE",
           "SUPERVISOR_MODULE"]

log = logging.getLogger("aftershock.fleet.lab")

LAB_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,40}$")
UP_TIMEOUT_S = 90.0
DOWN_TIMEOUT_S = 15.0
#: The supervisor runs as ``python -m SUPERVISOR_MODULE``; its command line is how a live lab is recognised.
SUPERVISOR_MODULE = "fleet.supervisor"


def _supervisor_cmdline(lab_dir: Path, name: str, seed: int, owner_pid: int | None, max_fault_s: float,
                        module: str = SUPERVISOR_MODULE, extra: Sequence[str] = ()) -> list[str]:
    args = ["--lab-dir", str(lab_dir), "--name", name, "--seed", str(seed), "--max-fault-s", f"{max_fault_s:g}"]
    return [sys.executable, "-m", module, *args, *(["--owner-pid", str(owner_pid)] if owner_pid else []), *extra]


def _is_supervisor_cmdline(cmdline: list[str], module: str = SUPERVISOR_MODULE) -> bool:
    """``python -m fleet.supervisor ...``: the module right after ``-m`` (a pid reused by another process is not)."""
    return any(a == "-m" and b == module for a, b in zip(cmdline, cmdline[1:], strict=False))


def _supervisor_alive(state: dict[str, Any]) -> bool:
    pid = state.get("pid")
    if not pid or state.get("stopped"):
        return False
    try:
        proc = psutil.Process(int(pid))
        return (
            proc.is_running()
            and proc.status() != psutil.STATUS_ZOMBIE
            and _is_supervisor_cmdline(proc.cmdline(), state.get("supervisor_module") or SUPERVISOR_MODULE)
        )
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _read_state(lab_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((lab_dir / "state.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def list_labs(settings: Settings) -> list[dict[str, Any]]:
    """Status of every running lab (labs whose supervisor is alive)."""
    labs = []
    if not settings.labs_dir.exists():
        return labs
    for lab_dir in sorted(settings.labs_dir.iterdir()):
        state = _read_state(lab_dir)
        if state and _supervisor_alive(state):
            labs.append(state)
    return labs


def lab_status(settings: Settings, name: str | None = None) -> dict[str, Any]:
    """Status of one running lab; with no name, the only running lab."""
    if name is None:
        labs = list_labs(settings)
        if len(labs) != 1:
            names = ", ".join(lab["name"] for lab in labs) or "none"
            raise LabNotFound(f"{len(labs)} labs are running ({names}); name one: `aftershock lab status NAME`")
        return labs[0]
    state = _read_state(settings.labs_dir / name)
    if state is None or not _supervisor_alive(state):
        raise LabNotFound(f"no running lab named {name!r}; start one with `aftershock lab up TOPOLOGY --name {name}`")
    return state


def check_lab_name(name: str) -> str:
    """A lab name the user gave: refused with one line when it is not 1-41 of ``a-z0-9-``."""
    if not LAB_NAME_RE.match(name):
        raise UserError(f"lab name {name!r} is invalid: use 1-41 lowercase letters, digits and '-', starting with "
                        "a letter or digit")
    return name


def lab_up(
    settings: Settings,
    topology: str | Path | Topology,
    *,
    name: str | None = None,
    seed: int = 1,
    timeout_s: float = UP_TIMEOUT_S,
    owner_pid: int | None = None,
    supervisor_module: str = SUPERVISOR_MODULE,
    supervisor_args: Sequence[str] = (),
    supervisor_env: Callable[[Path], Mapping[str, str]] | None = None,
    options: LabOptions = LabOptions(),
) -> dict[str, Any]:
    """Start a lab and return its status once every agent serves and membership has converged.

    With ``owner_pid`` the lab stops by itself when that process is gone (runs own their labs this way,
    so even a ``kill -9`` of the runner leaves no lab behind); without it the lab runs until ``lab_down``.
    Another engine runs its own supervisor (``supervisor_module``, e.g. ``engines.ray.supervisor``, with its
    ``supervisor_args``) behind the same state file and control API; a supervisor that fails on something the
    user can fix says so (``user_error`` in its state) and that becomes a one-line :class:`UserError`.
    ``supervisor_env`` gives the supervisor's environment additions, made from the fresh lab directory (Ray reads
    its token settings from the environment once, at start). ``options`` are how the embedded lab runs its processes
    (fleet/presets.py: event loop, mesh peer transport, fork server; the defaults are the fast lab).
    """
    topo = topology if isinstance(topology, Topology) else load_topology(topology)
    if topo.healing.restarts == "engine" and supervisor_module == SUPERVISOR_MODULE:
        raise UserError(f"topology {topo.name}: healing.restarts: engine leaves recovery to the engine's own "
                        "restarts, and the embedded lab has none; use --engine ray, or healing.restarts: lab")
    if name is not None:  # a name the user chose is never silently rewritten
        check_lab_name(name)
    if name is None:  # made from the topology's name, which may hold any character
        name = re.sub(r"[^a-z0-9-]", "-", f"{topo.name.lower()[:24].strip('-_.')}-{secrets.token_hex(2)}")
        name = name if LAB_NAME_RE.match(name) else f"lab-{secrets.token_hex(2)}"
    settings.ensure()
    lab_dir = settings.labs_dir / name
    old = _read_state(lab_dir)
    if old and _supervisor_alive(old):
        raise UserError(f"a lab named {name!r} is already running; stop it with `aftershock lab down {name}`")
    if lab_dir.exists():
        shutil.rmtree(lab_dir)
    lab_dir.mkdir(parents=True)
    token_path = lab_dir / "token"
    token_path.touch(mode=0o600)
    token_path.write_text(secrets.token_urlsafe(24))
    (lab_dir / "topology.json").write_text(topo.model_dump_json(indent=1))
    env = {**os.environ, **(supervisor_env(lab_dir) if supervisor_env else {})}
    with open(lab_dir / "supervisor.log", "ab") as log_fh:
        proc = subprocess.Popen(
            _supervisor_cmdline(lab_dir, name, seed, owner_pid, settings.max_fault_s, supervisor_module,
                                [*supervisor_args,
                                 *(options.args() if supervisor_module == SUPERVISOR_MODULE else [])]),
            stdin=subprocess.DEVNULL,
            stdout=log_fh,
            stderr=log_fh,
            start_new_session=True,
            env=env,
        )

    def ready() -> dict[str, Any] | None:
        state = _read_state(lab_dir)
        if state and state.get("ready") and state.get("pid") == proc.pid:
            return state
        if proc.poll() is not None:
            if state and state.get("error") and state.get("user_error"):
                raise UserError(str(state["error"]))
            if state and state.get("error"):
                raise LabError(f"lab {name} failed to start: {state['error']} (logs in {lab_dir})")
            tail = (lab_dir / "supervisor.log").read_text(errors="replace").strip().splitlines()[-3:]
            raise LabError(f"lab {name} failed to start: {' | '.join(tail)} (logs in {lab_dir})")
        return None

    try:
        return wait_until(ready, timeout_s, interval_s=0.1, what=f"lab {name} to be ready")
    except (TimeoutError, LabError, UserError, KeyboardInterrupt):
        _stop(proc.pid)
        raise


def _stop(pid: int, timeout_s: float = DOWN_TIMEOUT_S) -> None:
    """SIGTERM the supervisor, wait, then SIGKILL its whole process group."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        psutil.Process(pid).wait(timeout_s)
    except psutil.NoSuchProcess:
        pass
    except psutil.TimeoutExpired:
        log.warning("lab supervisor %d did not stop in %.0fs; killing its process group", pid, timeout_s)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        psutil.Process(pid).wait(5)
    except (psutil.NoSuchProcess, psutil.TimeoutExpired):
        pass


def lab_down(settings: Settings, name: str) -> dict[str, Any]:
    """Stop a lab: the supervisor stops the load generator (flushing the request log) and every node."""
    state = lab_status(settings, name)
    _stop(int(state["pid"]))
    for node in state.get("nodes", []):
        pid = node.get("pid")
        if pid and psutil.pid_exists(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    return state


class ControlClient:
    """The lab's control API over HTTP, with the lab's token; every call has a timeout."""
    def __init__(
        self, control_url: str, token: str, *, timeout_s: float = 30.0, session: requests.Session | None = None
    ):
        self.url = control_url.rstrip("/")
        self.timeout_s = timeout_s
        self._session = session or requests.Session()
        self._session.headers["Authorization"] = f"Bearer {token}"

    @classmethod
    def for_lab(cls, status: dict[str, Any], **kwargs: Any) -> ControlClient:
        token = Path(status["token_file"]).read_text().strip()
        return cls(status["control_url"], token, **kwargs)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            resp = self._session.post(f"{self.url}{path}", json=body, timeout=self.timeout_s)
        except requests.RequestException as exc:
            raise LabError(f"lab control API at {self.url} unreachable: {type(exc).__name__}") from None
        try:
            data = resp.json() if resp.content else {}
        except ValueError:  # not JSON: a crash page from the server
            data = {"error": resp.text.strip().splitlines()[0] if resp.text.strip() else resp.reason}
        if resp.status_code >= 400:
            raise UserError(f"lab refused {path.lstrip('/')}: {data.get('error', resp.status_code)}")
        return data

    def status(self) -> dict[str, Any]:
        try:
            resp = self._session.get(f"{self.url}/status", timeout=self.timeout_s)
            resp.raise_for_status()
        except requests.RequestException as exc:
            raise LabError(f"lab control API at {self.url} unreachable: {type(exc).__name__}") from None
        return resp.json()

    def kill_node(self, node: str) -> dict[str, Any]:
        return self._post("/kill-node", {"node": node})

    def kill_agent(self, agent: str) -> dict[str, Any]:
        return self._post("/kill-agent", {"agent": agent})

    def kill_region(self, region: str) -> dict[str, Any]:
        return self._post("/kill-region", {"region": region})

    def restore_region(self, region: str) -> dict[str, Any]:
        return self._post("/restore-region", {"region": region})

    def restart_node(self, node: str) -> dict[str, Any]:
        return self._post("/restart-node", {"node": node})

    def pause_node(self, node: str) -> dict[str, Any]:
        return self._post("/pause-node", {"node": node})

    def resume_node(self, node: str) -> dict[str, Any]:
        return self._post("/resume-node", {"node": node})

    def throttle_node(self, node: str, cpu_percent: float) -> dict[str, Any]:
        return self._post("/throttle-node", {"node": node, "cpu_percent": cpu_percent})

    def unthrottle_node(self, node: str) -> dict[str, Any]:
        return self._post("/unthrottle-node", {"node": node})

    def set_link(
        self, src: str, dst: str, *, latency_ms: float | None = None, loss: float | None = None, cut: bool | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"src": src, "dst": dst}
        for key, value in (("latency_ms", latency_ms), ("loss", loss), ("cut", cut)):
            if value is not None:
                body[key] = value
        return self._post("/link", body)

    def heal(self) -> dict[str, Any]:
        return self._post("/heal", {})

    # ---- the dead-man lease (fleet/supervisor/deadman.py, docs/safety.md) ----------------
    def use_lease(self, lease: str | None, actor: str | None = None) -> None:
        """Tag every later fault call with the lease (and on whose behalf), so the lab knows whose fault it is."""
        for header, value in (("X-Aftershock-Lease", lease), ("X-Aftershock-Actor", actor)):
            if value:
                self._session.headers[header] = value
            else:
                self._session.headers.pop(header, None)

    def open_lease(self, *, holder: str, pid: int | None, run: str | None, ttl_s: float,
                   max_fault_s: float) -> dict[str, Any]:
        return self._post("/lease", {"holder": holder, "pid": pid, "run": run, "ttl_s": ttl_s,
                                     "max_fault_s": max_fault_s})

    def renew_lease(self, lease: str) -> dict[str, Any]:
        return self._post("/lease/renew", {"lease": lease})

    def release_lease(self, lease: str) -> dict[str, Any]:
        return self._post("/lease/release", {"lease": lease})

    def faults(self) -> list[dict[str, Any]]:
        """The faults the lab's dead-man knows to be active (kind, target, lease, who, expires_in_s)."""
        try:
            resp = self._session.get(f"{self.url}/faults", timeout=self.timeout_s)
            resp.raise_for_status()
        except requests.RequestException as exc:
            raise LabError(f"lab control API at {self.url} unreachable: {type(exc).__name__}") from None
        return list(resp.json().get("faults", []))
