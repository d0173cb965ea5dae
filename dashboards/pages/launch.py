"""Launch: run a library experiment against chosen topologies, in the background."""

from __future__ import annotations

import streamlit as st

from core.errors import AftershockError
from dashboards import launcher
from dashboards.config import DashboardConfig
from dashboards.stop import session_actor
from dashboards.ui import chaos_gate, page_url

__all__ = ["render", "NO_EXPERIMENTS"]

NO_EXPERIMENTS = "The experiment library (chaos/experiments/) is empty: add an experiment there to launch it."


def _launches(config: DashboardConfig) -> None:
    launches = launcher.list_launches(config.settings)
    if not launches:
        st.caption("No launches yet.")
        return
    for item in launches:
        state = "running" if item["running"] else (
            "finished" if item["comparison_id"] else f"ended (exit code {item['returncode']})")
        st.markdown(f"**{item['experiment']}** on {', '.join(item['topologies'])} x{item['repeat']}: {state}")
        if item["comparison_id"]:
            st.markdown(f"[Open comparison]({page_url('compare', comparison=item['comparison_id'])})")
        if item["log"]:
            st.code(item["log"], language=None)


def render(config: DashboardConfig) -> None:
    st.title("Launch an experiment")
    if not chaos_gate(config, "The Launch page"):
        return
    experiments = launcher.library_experiments()
    if not experiments:
        st.info(NO_EXPERIMENTS)
        return
    topologies = launcher.topology_names()
    with st.form("launch"):
        experiment = st.selectbox("Experiment (library)", experiments)
        chosen = st.multiselect("Topologies", topologies, default=topologies)
        cols = st.columns(3)
        repeat = cols[0].number_input("Repeats", min_value=1, max_value=launcher.MAX_REPEAT, value=1, step=1)
        warmup = cols[1].number_input("Warm-up (s)", min_value=1.0, max_value=600.0, value=10.0, step=1.0)
        observe = cols[2].number_input("Observe after the fault (s)", min_value=1.0, max_value=600.0, value=15.0,
                                       step=1.0)
        if st.form_submit_button("Launch"):
            try:
                record = launcher.launch(config.settings, experiment, chosen, int(repeat), warmup_s=float(warmup),
                                         observe_s=float(observe), actor=session_actor())
                st.success(f"Launched {record.launch_id}: follow it on the Live page.")
            except AftershockError as exc:
                st.error(str(exc))

    @st.fragment(run_every=config.live_refresh_s)
    def progress() -> None:
        st.subheader("Recent launches")
        _launches(config)

    progress()
