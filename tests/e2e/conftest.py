"""End-to-end tests: labs of real processes, the runner, command-line subprocesses, AppTest over runs made by
the real runner, Chromium. Every test here is marked ``e2e`` and ``lab`` (so ``-m "not lab"`` leaves them out)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.lab)
