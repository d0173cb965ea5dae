"""Integration tests: real servers on port 0, the store under crashes, a real Prometheus; no lab.
Every test here is marked ``integration``."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/integration/" in str(item.fspath):
            item.add_marker(pytest.mark.integration)
