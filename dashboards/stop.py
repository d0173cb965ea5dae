"""The emergency stop in the dashboard: a button in the sidebar of every page, and the audit log's rows.

Rendered once per page run from ``app.py`` (the common chrome), so the page modules do not know about it.
Stopping and clearing go through ``chaos.emergency`` (the same functions as ``aftershock stop``) on behalf of
``dashboard session ID``; beyond loopback both need the dashboard token, like every page that triggers chaos.
"""

from __future__ import annotations

import time

import pandas as pd
import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from chaos.emergency import clear_emergency_stop, current_stop, emergency_stop
from core.audit import read_audit
from dashboards.auth import chaos_access
from dashboards.config import DashboardConfig
from dashboards.ui import TOKEN_KEY

__all__ = ["render", "session_actor", "audit_frame", "AUDIT_COLUMNS", "STOP_LABEL", "CLEAR_LABEL"]

STOP_LABEL = "Emergency stop"
CLEAR_LABEL = "Clear the emergency stop"
AUDIT_COLUMNS = ["when", "action", "who", "run", "lab", "target", "detail"]
_RESULT_KEY = "aftershock_stop_result"


def session_actor() -> str:
    """``dashboard session ID``: who the audit log names for what this browser session does."""
    ctx = get_script_run_ctx()
    return f"dashboard session {ctx.session_id[:8]}" if ctx is not None else "dashboard session unknown"


def audit_frame(home: str, limit: int = 500) -> tuple[pd.DataFrame, int]:
    """The last ``limit`` audit entries, newest first, as text columns (user strings stay text), and the
    number of unreadable lines skipped."""
    entries, bad = read_audit(home, limit=limit)
    rows = [{"when": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.ts)), "action": e.action, "who": e.who,
             "run": e.run or "", "lab": e.lab or "", "target": e.target or "",
             "detail": ", ".join(f"{k}={v}" for k, v in e.detail.items())[:300]} for e in reversed(entries)]
    return pd.DataFrame(rows, columns=AUDIT_COLUMNS), bad


def _allowed(config: DashboardConfig) -> bool:
    access = chaos_access(config, st.session_state.get(TOKEN_KEY))
    if access.allowed:
        return True
    if access.needs_token:
        supplied = st.text_input("Dashboard token (for the stop)", type="password", key="stop_token")
        if supplied:
            st.session_state[TOKEN_KEY] = supplied
            if chaos_access(config, supplied).allowed:
                st.rerun()
            st.error("Wrong token.")
    else:
        st.caption(access.reason)
    return False


def render(config: DashboardConfig) -> None:
    """The sidebar block: the stop in force (if any) and the button to set or clear it."""
    with st.sidebar:
        state = current_stop(config.settings)
        if state is not None:
            st.error(state.describe().capitalize() + ". New runs are refused.")
        result = st.session_state.pop(_RESULT_KEY, None)
        if result:
            st.success(result)
        if not _allowed(config):
            return
        if state is None:
            if st.button(STOP_LABEL, type="primary", icon=":material/emergency:", key="emergency_stop",
                         help="Revert every fault in every lab now, abort running experiments (rollbacks run) "
                              "and refuse new runs until cleared"):
                report = emergency_stop(config.settings, session_actor(), "from the dashboard")
                healed = sum(h.ok for h in report.labs)
                st.session_state[_RESULT_KEY] = (
                    f"Stopped: {healed} of {len(report.labs)} lab(s) healed in {report.seconds:.2f} s; "
                    f"{len(report.runs_aborting)} running experiment(s) aborting.")
                st.rerun()
        elif st.button(CLEAR_LABEL, key="clear_emergency_stop"):
            clear_emergency_stop(config.settings, session_actor())
            st.session_state[_RESULT_KEY] = "Emergency stop cleared: runs and chaos are allowed again."
            st.rerun()
