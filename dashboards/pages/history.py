"""History: every run and comparison, filterable, with resilience and TTR trends per experiment/topology."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import data
from dashboards.config import DashboardConfig
from dashboards.ui import plot
from presentation import figures
from presentation.trends import regression_flags

__all__ = ["render", "EMPTY_MESSAGE"]

EMPTY_MESSAGE = "Nothing recorded yet: run `aftershock run node-loss`, or use the Launch page; history builds up here."


def _filtered(frame: pd.DataFrame, column: str, chosen: list[str]) -> pd.DataFrame:
    return frame[frame[column].astype(str).isin(chosen)] if chosen else frame


def render(config: DashboardConfig) -> None:
    st.title("History")
    runs, problem = data.load_runs(config.store_dir)
    comparisons, _ = data.load_comparisons(config.store_dir)
    if problem:
        st.error(f"Cannot read the run store: {problem}")
        return
    if runs.empty and comparisons.empty:
        st.info(EMPTY_MESSAGE)
        return
    cols = st.columns(3)
    experiments = cols[0].multiselect("Experiment", sorted(runs["experiment"].astype(str).unique()))
    topologies = cols[1].multiselect("Topology", sorted(runs["topology"].astype(str).unique()))
    statuses = cols[2].multiselect("Status", sorted(runs["status"].astype(str).unique()))
    shown = _filtered(_filtered(_filtered(runs, "experiment", experiments), "topology", topologies), "status", statuses)
    shown = shown.assign(started=pd.to_datetime(shown["started_at"], unit="s"),
                         link=[f"/run?run={r}" for r in shown["run_id"]])
    st.subheader(f"Runs ({len(shown)})")
    st.dataframe(shown[["link", "experiment", "topology", "repeat", "status", "started", "duration_s",
                        "comparison_id"]], hide_index=True,
                 column_config={"link": st.column_config.LinkColumn("run", display_text=r"/run\?run=(.*)")})
    cmp_shown = _filtered(comparisons, "experiment", experiments)
    st.subheader(f"Comparisons ({len(cmp_shown)})")
    st.dataframe(cmp_shown.assign(created=pd.to_datetime(cmp_shown["created_at"], unit="s"),
                                  link=[f"/?comparison={c}" for c in cmp_shown["comparison_id"]])[
        ["link", "experiment", "kind", "title", "created", "runs", "topologies"]], hide_index=True,
        column_config={"link": st.column_config.LinkColumn("comparison", display_text=r"/\?comparison=(.*)")})

    st.subheader("Trends")
    trends = data.load_trends(config.store_dir, cmp_shown)
    trends = _filtered(trends, "topology", topologies)
    if trends.empty:
        st.info("Trends appear once comparisons have finished and been analysed.")
        return
    left, right = st.columns(2)
    with left:
        plot(figures.trend_figure(trends, "resilience", title="Resilience R (median per comparison)"), "hist_r")
    with right:
        plot(figures.trend_figure(trends, "ttr_s", title="Time to recover (median, s)"), "hist_ttr")
    flags = regression_flags(data.load_regressions(str(config.settings.home)), trends)
    if not flags.empty:
        st.subheader("Regressions")
        st.dataframe(flags, hide_index=True)
