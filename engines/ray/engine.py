"""The Ray engine seen from outside: bring a topology up on Ray, and drive it through ``core.engine.Engine``.

A Ray deployment has the lab's control API (its supervisor is the lab's, with nodes as Ray actors), so the
engine is the lab's engine reading ``engine: ray`` from the status; what differs is bringing it up
(:func:`ray_lab_up`) and the checks of bad input, made here in one line before anything starts where they can
be (Ray too old, an address that does not answer) and by the supervisor where they need Ray (no region
resources): exit 2 either way.

This module does not import Ray: the command line and the chaos extension import it on every start.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from core.settings import Settings
from engines.ray.cluster import check_address, check_ray_version
from engines.ray.options import RayOptions, ray_health_for
from fleet.engine import LabEngine
from fleet.lab import lab_up
from fleet.topology import Topology, load_topology

__all__ = ["RayEngine", "ray_lab_up", "cluster_token_env", "ray_options_for", "RAY_UP_TIMEOUT_S", "SUPERVISOR_MODULE"]

SUPERVISOR_MODULE = "engines.ray.supervisor"
#: Starting a local cluster (four `ray start`s) and its actors on a loaded 2-core machine takes a minute or two.
RAY_UP_TIMEOUT_S = 420.0


class RayEngine(LabEngine):
    """A topology deployed on Ray, through its supervisor's control API (every fault of ``core.engine.FAULTS``)."""

    engine = "ray"


def ray_options_for(topology: Topology, *, address: str | None = None, num_cpus: float = 1.0) -> RayOptions:
    """The engine's options for a topology: Ray's failure detection on the topology's clock (local clusters)."""
    return RayOptions(address=address, num_cpus=num_cpus, restarts=topology.healing.restarts,
                      health=None if address else ray_health_for(topology))


def ray_lab_up(settings: Settings, topology: str | Path | Topology, *, address: str | None = None,
               num_cpus: float = 1.0, timeout_s: float = RAY_UP_TIMEOUT_S, **kwargs: Any) -> dict[str, Any]:
    """``lab_up`` on Ray: a local multi-node cluster started for the lab (stopped with it), or ``address``."""
    topo = topology if isinstance(topology, Topology) else load_topology(topology)
    check_ray_version()
    if address:
        check_address(address)
    options = ray_options_for(topo, address=address, num_cpus=num_cpus)
    return lab_up(settings, topo, timeout_s=timeout_s, supervisor_module=SUPERVISOR_MODULE,
                  supervisor_args=["--ray-options", options.to_arg()],
                  supervisor_env=None if address else cluster_token_env, **kwargs)


def cluster_token_env(lab_dir: Path) -> dict[str, str]:
    """Ray's token authentication for a local cluster, with a token of its own in the lab directory (0600), never
    the user's ``~/.ray/auth_token``: the supervisor, every ``ray start`` and every worker read it from there."""
    path = lab_dir / "ray-token"
    path.touch(mode=0o600)
    path.write_text(secrets.token_hex(32))
    return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(path)}
