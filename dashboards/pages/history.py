"""History: trends of resilience and recovery across comparisons, regression flags, every run and comparison.

The filters live in the URL (``?experiment=node-loss&topology=hybrid``), so a reload or a shared link shows
the same selection.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboards import data
from dashboards.config import DashboardConfig
from dashboards.ui import page_url, plot, query_list, set_query_list
from presentation import figures
from presentation.text import local_datetimes
from presentation.trends import regression_flags

__all__ = ["render", "EMPTY_MESSAGE", "FILTERS"]

EMPTY_MESSAGE = "Nothing recorded yet: run `aftershock run node-loss`, or use the Launch page; history builds up here."
#: query parameter -> column filtered
FILTERS = {"experiment": "experiment", "topology": "topology", "status": "status"}


def _filtered(frame: pd.DataFrame, column: str, chosen: list[str]) -> pd.DataFrame:
    return frame[frame[column].astype(str).isin(chosen)] if chosen else frame


def _filters(runs: pd.DataFrame) -> dict[str, list[str]]:
    """The three filters, initialised from the URL once per session, written back on every change."""
    cols = st.columns(3)
    chosen: dict[str, list[str]] = {}
    for col, (param, column) in zip(cols, FILTERS.items(), strict=True):
        options = sorted(runs[column].astype(str).unique())
        key = f"history_{param}"
        if key not in st.session_state:
            st.session_state[key] = query_list(param, options)
        chosen[param] = col.multiselect(param.capitalize(), options, key=key)
        set_query_list(param, chosen[param])
    return chosen


def render(config: DashboardConfig) -> None:
    st.title("History and trends")
    runs, problem = data.load_runs(config.store_dir)
    comparisons, _ = data.load_comparisons(config.store_dir)
    if problem:
        st.error(f"Cannot read the run store: {problem}")
        return
    if runs.empty and comparisons.empty:
        st.info(EMPTY_MESSAGE)
        return
    chosen = _filters(runs)
    cmp_shown = _filtered(comparisons, "experiment", chosen["experiment"])
    if chosen["topology"]:  # a comparison is shown when it holds one of the chosen topologies
        wanted = set(chosen["topology"])
        cmp_shown = cmp_shown[[bool(wanted & set(str(t).split(","))) for t in cmp_shown["topologies"]]]

    st.subheader("Trends")
    trends = _filtered(data.load_trends(config.store_dir, cmp_shown), "topology", chosen["topology"])
    flags = regression_flags(data.load_regressions(str(config.settings.home)), trends)
    if trends.empty:
        st.info("Trends appear once comparisons have finished and been analysed.")
    else:
        left, right = st.columns(2)
        with left:
            plot(figures.trend_figure(trends, "resilience", title="Resilience R, median per comparison",
                                      flags=flags), "hist_r")
        with right:
            plot(figures.trend_figure(trends, "ttr_s", title="Time to recover by itself, median per comparison",
                                      flags=flags), "hist_ttr")
        if trends["ttr_censored"].any():
            st.caption("A comparison whose median run did not heal by itself has no TTR point: see its page.")
    st.subheader("Regressions")
    if flags.empty:
        st.caption("No regression flagged by scheduled runs among the comparisons shown.")
    else:
        st.dataframe(flags, hide_index=True, width="stretch", key="regressions")

    shown = _filtered(_filtered(_filtered(runs, "experiment", chosen["experiment"]), "topology",
                                chosen["topology"]), "status", chosen["status"])
    shown = shown.assign(started=local_datetimes(shown["started_at"]).to_numpy(),
                         link=[page_url("run", run=r) for r in shown["run_id"]])
    st.subheader(f"Runs ({len(shown)})")
    st.dataframe(shown[["link", "experiment", "topology", "repeat", "status", "started", "duration_s",
                        "comparison_id"]], hide_index=True, width="stretch", key="history_runs",
                 column_config={"link": st.column_config.LinkColumn("run", display_text=r"/run\?run=(.*)"),
                                "started": st.column_config.DatetimeColumn("started", format="YYYY-MM-DD HH:mm:ss"),
                                "duration_s": st.column_config.NumberColumn("duration (s)", format="%.1f")})
    st.subheader(f"Comparisons ({len(cmp_shown)})")
    st.dataframe(cmp_shown.assign(created=local_datetimes(cmp_shown["created_at"]).to_numpy(),
                                  link=[page_url("compare", comparison=c) for c in cmp_shown["comparison_id"]])[
        ["link", "experiment", "kind", "title", "created", "runs", "topologies"]], hide_index=True, width="stretch",
        key="history_comparisons",
        column_config={"link": st.column_config.LinkColumn("comparison", display_text=r"/compare\?comparison=(.*)"),
                       "created": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm")})
