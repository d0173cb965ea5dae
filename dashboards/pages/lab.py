"""Lab: start and stop labs of the built-in topologies and see their health."""

from __future__ import annotations

import streamlit as st

from core.errors import AftershockError
from dashboards import data, launcher
from dashboards.config import DashboardConfig
from dashboards.ui import chaos_gate, plot
from presentation import figures, frames

__all__ = ["render", "EMPTY_MESSAGE"]

EMPTY_MESSAGE = "No lab is running. Start one below (or `aftershock lab up decentralized`)."


def render(config: DashboardConfig) -> None:
    st.title("Lab")
    if not chaos_gate(config, "The Lab page"):
        return
    names = launcher.topology_names()
    with st.form("lab_up"):
        topology = st.selectbox("Topology", names)
        if st.form_submit_button("Start lab"):
            try:
                with st.spinner(f"Starting a {topology} lab..."):
                    status = launcher.start_lab(config.settings, topology)
                data.load_labs.clear()
                st.success(f"Lab {status['name']} is up.")
            except AftershockError as exc:
                st.error(str(exc))
    labs = data.load_labs(str(config.settings.home))
    if not labs:
        st.info(EMPTY_MESSAGE)
        return
    for i, lab in enumerate(labs):
        nodes = frames.nodes_frame(lab)
        alive = int((nodes["health"] == "alive").sum()) if not nodes.empty else 0
        st.subheader(f"{lab.get('name')} ({lab.get('topology')})")
        st.caption(f"{alive}/{len(nodes)} nodes alive · regions: {', '.join(map(str, lab.get('regions') or []))}")
        plot(figures.lab_figure(nodes, frames.links_frame(lab)), f"lab_fig_{i}")
        with st.expander("Nodes and links"):
            st.dataframe(nodes, hide_index=True)
            st.dataframe(frames.links_frame(lab), hide_index=True)
        if st.button("Stop this lab", key=f"lab_down_{i}"):
            try:
                launcher.stop_lab(config.settings, str(lab.get("name")))
                data.load_labs.clear()
                st.rerun()
            except AftershockError as exc:
                st.error(str(exc))
