"""Who may trigger chaos: anyone on loopback; beyond loopback only holders of the configured token."""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from dashboards.config import DashboardConfig

__all__ = ["Access", "chaos_access", "token_matches"]


@dataclass(frozen=True)
class Access:
    """``allowed``; else ``needs_token`` (ask for it) or disabled with ``reason`` (say how to enable)."""

    allowed: bool
    needs_token: bool = False
    reason: str = ""


def token_matches(expected: str | None, supplied: str | None) -> bool:
    """Constant-time comparison; no configured token never matches."""
    if not expected or not supplied:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), supplied.encode("utf-8"))


def chaos_access(config: DashboardConfig, supplied: str | None) -> Access:
    """May this browser session start/stop labs and launch experiments?"""
    if not config.exposed:
        return Access(True)
    if not config.token:
        return Access(False, reason=(
            f"The dashboard is bound to {config.host}, beyond loopback, and no token is configured, so pages "
            "that trigger chaos are disabled. Restart it with `aftershock dashboard --token-file PATH` "
            "(or set AFTERSHOCK_DASHBOARD_TOKEN), or bind it to 127.0.0.1."))
    if token_matches(config.token, supplied):
        return Access(True)
    return Access(False, needs_token=True, reason="This dashboard is reachable beyond loopback: enter its token.")
