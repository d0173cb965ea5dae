"""Engines beyond the embedded lab (Ray, Kubernetes), each behind ``core.engine.Engine``.

The embedded lab's engine lives with the lab (``fleet.engine.LabEngine``); this package holds the engines
that run or attach elsewhere, one sub-package each, and :func:`open_target`, which turns a stored target
name into an engine for the chaos extension and the runner.
"""

from __future__ import annotations

from core.engine import Engine
from core.errors import ExperimentError
from core.settings import Settings

__all__ = ["open_target"]


def open_target(settings: Settings, name: str) -> Engine:
    """The engine of the stored target ``name`` (``aftershock target add``)."""
    raise ExperimentError(f"no target named {name!r} under {settings.home}; add one with `aftershock target add`")
