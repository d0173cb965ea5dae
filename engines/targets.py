"""Stored targets: deployments Aftershock attaches to instead of starting (``aftershock target add``).

One YAML file per target, ``$AFTERSHOCK_HOME/targets/NAME.yaml``, whose ``engine`` field says which engine
reads it (``kubernetes`` today). Files are written whole (temporary file, then rename), so a failed
``target add`` leaves nothing behind and a reader never sees half a target. Beside each file the engine
keeps its run ledger (``NAME.state.json``) and event log (``NAME.events.jsonl``).

This module stays light (PyYAML only): every command line start and every chaos action imports it.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import yaml

from core.errors import EngineError
from core.settings import Settings
from core.yamlsafe import YamlRefused, load_yaml

__all__ = [
    "TARGET_NAME_RE",
    "targets_dir",
    "target_path",
    "check_target_name",
    "read_target",
    "write_target",
    "list_target_names",
    "remove_target_files",
    "atomic_write",
]

#: A target's name ends up in label values and object names: DNS-label characters, 40 at most.
TARGET_NAME_RE = re.compile(r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")
_SUFFIXES = (".yaml", ".state.json", ".events.jsonl", ".lock")


def targets_dir(settings: Settings) -> Path:
    return settings.home / "targets"


def check_target_name(name: str) -> str:
    if not TARGET_NAME_RE.match(name or ""):
        raise EngineError(f"target name {name!r} is not valid: use 1-40 lowercase letters, digits and '-', "
                          "starting and ending with a letter or digit")
    return name


def target_path(settings: Settings, name: str) -> Path:
    return targets_dir(settings) / f"{check_target_name(name)}.yaml"


def list_target_names(settings: Settings) -> list[str]:
    folder = targets_dir(settings)
    if not folder.is_dir():
        return []
    return sorted(p.name.removesuffix(".yaml") for p in folder.glob("*.yaml")
                  if TARGET_NAME_RE.match(p.name.removesuffix(".yaml")))


def read_target(settings: Settings, name: str) -> dict[str, Any]:
    """The raw mapping of a stored target; one-line errors for a missing or unreadable file."""
    path = target_path(settings, name)
    if not path.exists():
        known = ", ".join(list_target_names(settings)) or "none"
        raise EngineError(f"no target named {name!r} under {targets_dir(settings)} (targets: {known}); "
                          "add one with `aftershock target add`")
    try:
        data = load_yaml(path.read_text(encoding="utf-8"), str(path))  # bounded: a hand-edited file (yamlsafe)
    except (OSError, UnicodeDecodeError, YamlRefused) as exc:
        raise EngineError(f"{path}: cannot read the target ({type(exc).__name__}); fix or remove the file "
                          f"(`aftershock target remove {name}`)") from None
    if not isinstance(data, dict):
        raise EngineError(f"{path}: expected a mapping of fields; fix or remove the file")
    return data


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_target(settings: Settings, name: str, data: dict[str, Any], *, replace: bool = False) -> Path:
    path = target_path(settings, name)
    if path.exists() and not replace:
        raise EngineError(f"a target named {name!r} already exists ({path}); remove it first "
                          f"(`aftershock target remove {name}`) or pick another name")
    atomic_write(path, yaml.safe_dump(data, sort_keys=False))
    return path


def remove_target_files(settings: Settings, name: str) -> list[Path]:
    """Remove a target's file, ledger and event log; returns what was removed."""
    base = targets_dir(settings)
    check_target_name(name)
    removed = []
    for suffix in _SUFFIXES:
        path = base / f"{name}{suffix}"
        if path.exists():
            path.unlink()
            removed.append(path)
    return removed
