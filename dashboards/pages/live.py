"""Live: running experiments refreshed in place, with their lab drawn by health."""

from __future__ import annotations

import streamlit as st

from dashboards import data
from dashboards.config import DashboardConfig
from dashboards.ui import plot
from presentation import figures, frames

__all__ = ["render", "EMPTY_MESSAGE"]

EMPTY_MESSAGE = ("No experiment is running. Start one on the Launch page or with `aftershock run node-loss`; "
                 "it shows up here while it runs.")


def _lab_of(run: dict, labs: list[dict]) -> dict | None:
    name = ((run.get("settings") or {}).get("lab")) or ""
    return next((lab for lab in labs if lab.get("name") == name), None)


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
        run, _ = data.load_run(config.store_dir, row.run_id)
        if run is None:
            continue
        st.subheader(f"{run['experiment']} on {run['topology']} (repeat {run['repeat']})")
        st.caption(f"run `{run['run_id']}` · injected: {'yes' if run.get('injected_at') else 'not yet'}")
        curves = data.load_run_curves(config.store_dir, run["run_id"], data.run_stamp(run))
        left, right = st.columns(2)
        with left:
            plot(figures.availability_figure(curves["availability"].assign(topology=run["topology"],
                                                                           run_id=run["run_id"]),
                                             title="Availability so far (client counters)"), f"live_avail_{i}")
        with right:
            lab = _lab_of(run, labs)
            if lab is None:
                st.info("Its lab is not running (starting, or already torn down).")
            else:
                plot(figures.lab_figure(frames.nodes_frame(lab), frames.links_frame(lab)), f"live_lab_{i}")


def render(config: DashboardConfig) -> None:
    st.title("Live")

    @st.fragment(run_every=config.live_refresh_s)
    def live() -> None:
        _live(config)

    live()
