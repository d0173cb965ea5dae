"""What the dashboard needs to know, built once by ``app.py`` from the environment the CLI sets."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.settings import Settings

__all__ = ["DashboardConfig", "config_from_environ", "LOOPBACK_HOSTS", "ENV_HOME", "ENV_HOST", "ENV_TOKEN"]

ENV_HOME = "AFTERSHOCK_HOME"
ENV_HOST = "AFTERSHOCK_DASHBOARD_HOST"
ENV_TOKEN = "AFTERSHOCK_DASHBOARD_TOKEN"
#: Hosts that mean "this machine only". Anything else (also 127.0.0.2 or 0.0.0.0) counts as exposed.
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class DashboardConfig:
    """Settings plus the bind host and the token guarding chaos (None: none configured)."""
    settings: Settings
    host: str = "127.0.0.1"
    token: str | None = None
    live_refresh_s: float = 2.0

    @property
    def exposed(self) -> bool:
        """True when bound beyond loopback: Launch and Lab then need the token."""
        return self.host.strip().strip("[]") not in LOOPBACK_HOSTS

    @property
    def store_dir(self) -> str:
        return str(self.settings.store_dir)


def config_from_environ(environ: Mapping[str, str]) -> DashboardConfig:
    """Read by ``app.py`` only (the boundary): home, bind host and token set by ``aftershock dashboard``."""
    token = (environ.get(ENV_TOKEN) or "").strip() or None
    return DashboardConfig(settings=Settings.from_env(environ), host=(environ.get(ENV_HOST) or "127.0.0.1"),
                           token=token)
