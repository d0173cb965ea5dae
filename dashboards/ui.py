"""Small rendering helpers shared by the pages (Streamlit only; no data access, no computation)."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from dashboards.auth import chaos_access
from dashboards.config import DashboardConfig

__all__ = ["query_param", "plot", "chaos_gate", "TOKEN_KEY"]

TOKEN_KEY = "aftershock_dashboard_token"


def query_param(name: str) -> str | None:
    """A query-string value, stripped; None when absent or empty."""
    value = st.query_params.get(name)
    value = value.strip() if isinstance(value, str) else None
    return value or None


def plot(fig: go.Figure, key: str) -> None:
    st.plotly_chart(fig, width="stretch", key=key, config={"displaylogo": False})


def chaos_gate(config: DashboardConfig, what: str) -> bool:
    """True when this session may trigger chaos; otherwise explains why not (and asks for the token)."""
    access = chaos_access(config, st.session_state.get(TOKEN_KEY))
    if access.allowed:
        return True
    if not access.needs_token:
        st.warning(f"{what} is disabled. {access.reason}")
        return False
    st.info(access.reason)
    with st.form("token_form"):
        supplied = st.text_input("Dashboard token", type="password")
        if st.form_submit_button("Unlock"):
            st.session_state[TOKEN_KEY] = supplied
            if chaos_access(config, supplied).allowed:
                st.rerun()
            st.error("Wrong token.")
    return False
