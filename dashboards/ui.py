"""Small rendering helpers shared by the pages (Streamlit only; no data access, no computation)."""

from __future__ import annotations

from urllib.parse import urlencode

import plotly.graph_objects as go
import streamlit as st

from dashboards import data
from dashboards.auth import chaos_access
from dashboards.config import DashboardConfig
from reports.text import md_escape

__all__ = ["query_param", "query_list", "set_query_list", "page_url", "plot", "chaos_gate", "export_section",
           "answer_box", "escape_markdown", "TOKEN_KEY", "REPORT_FORMATS"]

# format -> (file extension, MIME type) of `aftershock report` (docs/reports.md)
REPORT_FORMATS = {"html": ("html", "text/html"), "pdf": ("pdf", "application/pdf"),
                  "json": ("json", "application/json"), "md": ("md", "text/markdown"),
                  "junit": ("xml", "application/xml")}

TOKEN_KEY = "aftershock_dashboard_token"


#: Longer query-string values are cut: ids are a few dozen characters (the hostile input corpus sends 10,000).
MAX_QUERY_VALUE = 200


def query_param(name: str) -> str | None:
    """A query-string value, stripped; None when absent or empty."""
    value = st.query_params.get(name)
    value = value.strip()[:MAX_QUERY_VALUE] if isinstance(value, str) else None  # no id is longer; a message
    return value or None  # echoing a 10,000-character one stays readable


def query_list(name: str, allowed: list[str]) -> list[str]:
    """A comma-separated query value as a list, keeping only ``allowed`` values (a filter kept in the URL)."""
    raw = st.query_params.get(name)
    values = [v.strip() for v in raw.split(",")] if isinstance(raw, str) else []
    return [v for v in dict.fromkeys(values) if v in allowed]


def set_query_list(name: str, values: list[str]) -> None:
    """Write a filter back to the URL (removed when empty), so a reload or a shared link keeps it."""
    if values:
        if st.query_params.get(name) != ",".join(values):
            st.query_params[name] = ",".join(values)
    elif name in st.query_params:
        del st.query_params[name]


def page_url(path: str, **params: str) -> str:
    """A link to another page of the dashboard with its query string (values URL-encoded)."""
    query = urlencode({k: v for k, v in params.items() if v})
    return f"/{path}?{query}" if query else f"/{path}"


def plot(fig: go.Figure, key: str) -> None:
    st.plotly_chart(fig, width="stretch", key=key, config={"displaylogo": False})


def answer_box(lead: str, sentence: str, confidence: str, *, decided: bool = False) -> None:
    """The answer first: what the comparison found (bold lead, the sentence with its numbers), how sure."""
    with st.container(border=True, key="answer_box"):
        if lead:
            st.markdown(f"#### {escape_markdown(lead)}")
        if sentence:
            st.markdown(escape_markdown(sentence))
        if confidence:
            icon = ":material/verified:" if decided else ":material/info:"
            st.caption(f"{icon} {escape_markdown(confidence)}")


def escape_markdown(text: str) -> str:
    """User strings (topology, experiment, node names) shown as text in Streamlit markdown."""
    return md_escape(text)


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


def export_section(config: DashboardConfig, item_id: str) -> None:
    """Build a report of this run or comparison on request, then offer it for download."""
    st.subheader("Export a report")
    left, right = st.columns([1, 3])
    fmt = left.selectbox("Format", list(REPORT_FORMATS), key=f"export_fmt_{item_id}")
    state_key = f"export_{item_id}_{fmt}"
    if right.button("Build report", key=f"export_build_{item_id}"):
        with st.spinner(f"Building the {fmt} report ..."):
            payload, problem = data.build_report(config.store_dir, str(config.settings.home), item_id, fmt)
        if problem:
            st.error(f"Cannot build the report: {problem}")
        else:
            st.session_state[state_key] = payload
    if state_key in st.session_state:
        ext, mime = REPORT_FORMATS[fmt]
        st.download_button(f"Download {fmt} report", data=st.session_state[state_key],
                           file_name=f"aftershock-{item_id}.{ext}", mime=mime, key=f"export_dl_{item_id}_{fmt}")
