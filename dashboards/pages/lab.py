"""Labs: the topology map of every running lab, refreshed live, with starting and stopping labs."""

from __future__ import annotations

import streamlit as st

from core.errors import AftershockError
from dashboards import data, launcher
from dashboards.config import DashboardConfig
from dashboards.ui import chaos_gate, escape_markdown, plot
from presentation import figures, frames
from presentation.labmap import lab_caption

__all__ = ["render", "EMPTY_MESSAGE"]

EMPTY_MESSAGE = "No lab is running. Start one with the form below, or with `aftershock lab up decentralized`."


def _stop(config: DashboardConfig, name: str) -> None:
    try:
        launcher.stop_lab(config.settings, name)
        data.load_labs.clear()
    except AftershockError as exc:
        st.error(str(exc))


def _running_labs(config: DashboardConfig) -> None:
    labs = data.load_labs(str(config.settings.home))
    st.caption(f"{len(labs)} running lab(s) · refreshed every {config.live_refresh_s:g} s")
    if not labs:
        st.info(EMPTY_MESSAGE)
        return
    for i, lab in enumerate(labs):
        name = str(lab.get("name"))
        with st.container(border=True):
            head, button = st.columns([5, 1])
            head.subheader(f"{escape_markdown(name)} ({escape_markdown(lab.get('topology'))})")
            button.button("Stop this lab", key=f"lab_down_{name}", on_click=_stop, args=(config, name),
                          icon=":material/stop_circle:")
            st.caption(escape_markdown(lab_caption(lab)))
            nodes, links = frames.nodes_frame(lab), frames.links_frame(lab)
            plot(figures.lab_figure(nodes, links, title=f"{name}: regions, nodes and links"), f"lab_fig_{i}")
            with st.expander("Nodes and links"):
                st.dataframe(nodes, hide_index=True, width="stretch")
                st.dataframe(links, hide_index=True, width="stretch")


def render(config: DashboardConfig) -> None:
    st.title("Labs")
    st.caption("Agent deployments running on this machine: real processes on loopback, broken on purpose.")
    if not chaos_gate(config, "The Lab page"):
        return

    @st.fragment(run_every=config.live_refresh_s)
    def running() -> None:
        _running_labs(config)

    running()
    st.subheader("Start a lab")
    names = launcher.topology_names()
    with st.form("lab_up"):
        topology = st.selectbox("Topology", names)
        if st.form_submit_button("Start lab", icon=":material/play_circle:"):
            try:
                with st.spinner(f"Starting a {topology} lab..."):
                    status = launcher.start_lab(config.settings, topology)
                data.load_labs.clear()
                st.success(f"Lab {status['name']} is up.")
            except AftershockError as exc:
                st.error(str(exc))
