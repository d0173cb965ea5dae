"""Which lab an activity acts on, resolved from the Chaos Toolkit configuration, and reading its logs.

Configuration keys (all optional):
- ``aftershock_home``: the data directory; default ``Settings.from_env()`` (``$AFTERSHOCK_HOME``), because
  ``chaos run`` is a command-line boundary like ``aftershock`` itself.
- ``aftershock_lab``: the lab's name; default the only running lab.

The lab's logs are read with ``core.logs`` (their one owner).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from core.engine import Engine
from core.errors import ExperimentError, LabNotFound
from core.settings import Settings, max_fault_from_env
from engines import open_target
from fleet.engine import LabEngine
from fleet.lab import lab_status, list_labs

__all__ = [
    "LabRef",
    "resolve_settings",
    "resolve_lab",
    "config_value",
]


def config_value(configuration: Mapping[str, Any] | None, key: str, default: Any = None) -> Any:
    """A configuration value, with empty strings treated as unset (``type: env`` defaults are strings)."""
    value = (configuration or {}).get(key)
    return default if value is None or value == "" else value


def resolve_settings(configuration: Mapping[str, Any] | None = None) -> Settings:
    """``aftershock_home`` from the configuration, else the environment (the CLI boundary of ``chaos run``);
    the fault cap always from the environment (``AFTERSHOCK_MAX_FAULT_S``)."""
    home = config_value(configuration, "aftershock_home")
    if home:
        return Settings(home=Path(str(home)).expanduser(), max_fault_s=max_fault_from_env())
    return Settings.from_env()


@dataclass
class LabRef:
    """A running deployment (a lab, or a target of another engine): its settings, name, status snapshot, and
    the engine (``core.engine.Engine``) that performs faults on it, made on demand."""
    settings: Settings
    name: str
    status: dict[str, Any]
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def client(self) -> Engine:
        """The engine every action goes through (the lab's control API for the embedded lab)."""
        if self._engine is None:
            self._engine = LabEngine(self.settings, self.name, status=self.status)
        return self._engine

    def live_status(self) -> dict[str, Any]:
        """Fresh status from the engine (the lab's state file can lag a crash by a moment)."""
        self.status = self.client.status().to_json()
        return self.status

    @property
    def request_log(self) -> Path:
        return Path(self.status["request_log"])

    @property
    def event_log(self) -> Path:
        return Path(self.status["event_log"])

    @property
    def lab_dir(self) -> Path:
        return Path(self.status["token_file"]).parent


def resolve_lab(configuration: Mapping[str, Any] | None = None) -> LabRef:
    """The lab named by ``aftershock_lab``, or the only running one; ExperimentError says how to fix it."""
    settings = resolve_settings(configuration)
    target = config_value(configuration, "aftershock_target")
    if target:
        engine = open_target(settings, str(target))
        return LabRef(settings, str(target), engine.status().to_json(), engine)
    name = config_value(configuration, "aftershock_lab")
    if name:
        try:
            status = lab_status(settings, str(name))
        except LabNotFound:
            raise ExperimentError(
                f"no running lab named {name!r} under {settings.home}; start one with "
                f"`aftershock lab up decentralized --name {name}` or fix configuration.aftershock_lab"
            ) from None
        return LabRef(settings, str(name), status)
    labs = list_labs(settings)
    if not labs:
        raise ExperimentError(
            f"no running lab under {settings.home}; start one with `aftershock lab up decentralized` "
            "or set configuration.aftershock_lab"
        )
    if len(labs) > 1:
        names = ", ".join(lab["name"] for lab in labs)
        raise ExperimentError(
            f"{len(labs)} labs are running ({names}); set configuration.aftershock_lab "
            "(or the AFTERSHOCK_LAB environment variable the library experiments read) to one of them"
        )
    return LabRef(settings, labs[0]["name"], labs[0])
