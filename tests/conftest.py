"""Shared fixtures: a temporary data directory and labs that are always brought down."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from core.settings import Settings
from fleet.lab import lab_down, lab_up, list_labs
from fleet.topology import Topology, load_topology


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home").ensure()


def topology_for_tests(name: str, **updates: Any) -> Topology:
    """A built-in topology with nested fields replaced, e.g. ``healing={"restart_delay_s": 1}``."""
    data = load_topology(name).model_dump()
    for key, value in updates.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return Topology.model_validate(data)


@pytest.fixture
def lab(settings: Settings) -> Iterator[Callable[..., dict[str, Any]]]:
    """Start labs with ``lab(topology, **kwargs)``; every one is stopped at teardown, even on failure."""
    started: list[str] = []

    def start(topology: str | Topology, **kwargs: Any) -> dict[str, Any]:
        status = lab_up(settings, topology, **kwargs)
        started.append(status["name"])
        return status

    yield start
    running = {s["name"] for s in list_labs(settings)}
    for name in started:
        if name in running:
            lab_down(settings, name)
