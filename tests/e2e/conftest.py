"""End-to-end tests: labs of real processes, the runner, command-line subprocesses, AppTest over runs made by
the real runner, Chromium. Every test here is marked ``e2e`` and ``lab`` (so ``-m "not lab"`` leaves them out)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.dashboard_fixtures import DashboardStore, HeldRun, build_dashboard_store


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "/tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)
            item.add_marker(pytest.mark.lab)


# ---- the dashboard's store, filled by the real runner once per session (tests/support/dashboard_fixtures.py)
@pytest.fixture(scope="session")
def dashboard_store(tmp_path_factory: pytest.TempPathFactory) -> DashboardStore:
    """One comparison (centralized, decentralized) made by `aftershock run`; only the store remains."""
    return build_dashboard_store(tmp_path_factory.mktemp("dashboard") / "home")


@pytest.fixture(scope="session")
def held_run(dashboard_store: DashboardStore) -> Iterator[HeldRun]:
    """A run of the runner kept running (fault held, its lab up) in the same home; stopped at the end of the
    session, also when a test failed."""
    held = HeldRun(dashboard_store)
    try:
        yield held.start()
    finally:
        held.stop()
