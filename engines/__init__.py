"""Engines beyond the embedded lab (Ray, Kubernetes), each behind ``core.engine.Engine``.

The embedded lab's engine lives with the lab (``fleet.engine.LabEngine``); this package holds the engines
that run or attach elsewhere, one sub-package each, the stored targets (:mod:`engines.targets`), and
:func:`open_target`, which turns a stored target name into an engine for the chaos extension and the runner.

Why the engine module is imported by name when a target is opened: the Kubernetes client and
chaostoolkit-kubernetes take about 1.3 s to import, and every ``aftershock`` command and chaos action imports
this package; only the runs that use a target pay for it. The registry below is the one place that does so.
"""

from __future__ import annotations

import importlib
from typing import Any

from core.engine import Engine
from core.errors import EngineError
from core.settings import Settings
from engines.kubernetes.target import KubeTarget, parse_target
from engines.targets import list_target_names, read_target, target_path

__all__ = ["open_target", "load_target", "engine_for", "heal_targets", "ENGINE_MODULES"]

#: Engine name (a target file's ``engine`` field) -> module holding its engine class.
ENGINE_MODULES = {"kubernetes": ("engines.kubernetes.engine", "KubernetesEngine")}


def load_target(settings: Settings, name: str) -> KubeTarget:
    """The stored target ``name``, validated (one-line :class:`EngineError` when missing or malformed)."""
    data = read_target(settings, name)
    engine = data.get("engine", "kubernetes")
    if engine not in ENGINE_MODULES:
        raise EngineError(f"{target_path(settings, name)}: engine {engine!r} is not one of "
                          f"{', '.join(ENGINE_MODULES)}")
    return parse_target(data, str(target_path(settings, name)))


def open_target(settings: Settings, name: str, **kwargs: Any) -> Engine:
    """The engine of the stored target ``name`` (``aftershock target add``)."""
    return engine_for(settings, load_target(settings, name), **kwargs)


def engine_for(settings: Settings, target: KubeTarget, **kwargs: Any) -> Any:
    """The engine of a target that may not be stored yet (``target add`` checks it before writing it)."""
    module, cls = ENGINE_MODULES[target.engine]
    return getattr(importlib.import_module(module), cls)(settings, target, **kwargs)


def heal_targets(settings: Settings) -> list[dict[str, Any]]:
    """Undo every fault on every stored target (the emergency stop's reach beyond the labs); a target that
    cannot be reached is reported with its error, never skipped silently."""
    out = []
    for name in list_target_names(settings):
        try:
            out.append(open_target(settings, name).heal(reason="emergency stop"))
        except EngineError as exc:
            out.append({"target": name, "action": "heal", "error": str(exc)})
    return out
