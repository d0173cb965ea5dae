"""Aftershock's Chaos Toolkit extension: actions and probes against a lab, and a recording control.

Activities live in ``chaos.actions`` and ``chaos.probes``; the control in ``chaos.control``; target
selection (pure, shared by real runs and dry runs) in ``chaos.targets``.
"""

from typing import Any

from chaoslib.discovery import discover_actions, discover_probes, initialize_discovery_result

from core.settings import Settings
from fleet.lab import list_labs

__all__ = ["discover", "__version__"]
__version__ = "0.1.0"


def discover(discover_system: bool = True) -> dict[str, Any]:
    """What ``chaos discover`` reports: every action and probe, and (optionally) the running labs."""
    discovery = initialize_discovery_result("aftershock-chaos", __version__, "aftershock")
    discovery["activities"].extend(discover_actions("chaos.actions"))
    discovery["activities"].extend(discover_probes("chaos.probes"))
    if discover_system:
        discovery["system"] = _system_info()
    return discovery


def _system_info() -> dict[str, Any]:
    """Running labs under ``$AFTERSHOCK_HOME`` (names, topologies, regions, nodes); never fails discovery."""
    import logging


    try:
        labs = list_labs(Settings.from_env())
    except Exception as exc:  # discovery must work without a lab
        logging.getLogger("aftershock.chaos").warning("could not list labs: %s", exc)
        return {"labs": []}
    return {"labs": [{"name": lab.get("name"), "topology": lab.get("topology"), "regions": lab.get("regions"),
                      "nodes": [n.get("name") for n in lab.get("nodes") or []]} for lab in labs]}
