"""Live: each running run's availability so far, its fault markers and its lab's map, updating in place."""

from __future__ import annotations

import streamlit as st

from dashboards import data
from dashboards.config import DashboardConfig
from dashboards.ui import escape_markdown, page_url, plot
from presentation import figures, frames
from presentation.labmap import lab_caption

__all__ = ["render", "EMPTY_MESSAGE", "NO_LAB"]

EMPTY_MESSAGE = ("No experiment is running. Start one on the Launch page or with `aftershock run node-loss`; "
                 "it shows up here while it runs.")
NO_LAB = "Its lab is not running (starting, or already torn down)."


def _one(config: DashboardConfig, run_id: str, labs: list[dict], i: int) -> None:
    run, _ = data.load_run(config.store_dir, run_id)
    if run is None:
        return
    with st.container(border=True, key=f"live_run_{i}"):
        st.subheader(f"{escape_markdown(run.experiment)} on {escape_markdown(run.topology)} (repeat {run.repeat})")
        phase = "fault injected" if run.injected_at is not None else "warming up (no fault yet)"
        st.caption(f"{phase} · lab `{escape_markdown(run.lab or '-')}` · [run detail]"
                   f"({page_url('run', run=run.run_id)}) · id `{run.run_id}`")
        stamp = data.run_stamp(run)
        curves = data.load_run_curves(config.store_dir, run.run_id, stamp)
        detail = data.load_run_detail(config.store_dir, run.run_id, stamp)
        keyed = curves["availability"].assign(topology=run.topology, run_id=run.run_id)
        plot(figures.availability_figure(keyed, detail["windows"], title="Availability so far (client counters)"),
             f"live_avail_{i}")
        lab = data.lab_of(run, labs)
        if lab is None:
            st.info(NO_LAB)
        else:
            st.caption(escape_markdown(lab_caption(lab)))
            plot(figures.lab_figure(frames.nodes_frame(lab), frames.links_frame(lab), title=f"Lab {lab.get('name')}"),
                 f"live_lab_{i}")


def _live(config: DashboardConfig) -> None:
    running, problem = data.load_runs(config.store_dir, status="running")
    labs = data.load_labs(str(config.settings.home))
    if problem:
        st.error(f"Cannot read the run store: {problem}")
        return
    st.caption(f"{len(running)} running run(s) · {len(labs)} running lab(s) · refreshed every "
               f"{config.live_refresh_s:g} s")
    if running.empty:
        st.info(EMPTY_MESSAGE)
        return
    for i, row in enumerate(running.itertuples(index=False)):
        _one(config, str(row.run_id), labs, i)


def render(config: DashboardConfig) -> None:
    st.title("Live runs")

    @st.fragment(run_every=config.live_refresh_s)
    def live() -> None:
        _live(config)

    live()
