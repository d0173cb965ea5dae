"""Audit: every injection, rollback, refusal, stop and clear, with time, run, target and who."""

from __future__ import annotations

import streamlit as st

from dashboards.config import DashboardConfig
from dashboards.stop import audit_frame

__all__ = ["render", "EMPTY_MESSAGE"]

EMPTY_MESSAGE = "The audit log is empty: nothing was injected, rolled back or stopped yet."


def render(config: DashboardConfig) -> None:
    st.title("Audit log")
    frame, bad = audit_frame(str(config.settings.home))
    st.caption(f"{config.settings.audit_log} · newest first · append-only (docs/safety.md)")
    if bad:
        st.warning(f"{bad} unreadable line(s) skipped (a writer killed mid-line).")
    if frame.empty:
        st.info(EMPTY_MESSAGE)
        return
    actions = st.multiselect("Action", sorted(frame["action"].unique()))
    shown = frame[frame["action"].isin(actions)] if actions else frame
    st.dataframe(shown, hide_index=True, width="stretch")
