"""Overview (home): every experiment against every topology, and what the latest comparisons found."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from chaos.library import library_names
from dashboards import data
from dashboards.config import DashboardConfig
from dashboards.ui import escape_markdown, page_url
from presentation.answer import BAND_COLOURS, answer, matrix_cells
from presentation.text import recovery_words

__all__ = ["render", "EMPTY_MESSAGE", "LATEST"]

EMPTY_MESSAGE = ("No comparisons yet: run `aftershock run node-loss` in a terminal (or `make demo`), or use the "
                 "Launch page. The matrix of experiments against topologies fills in here.")
LATEST = 6
BAND_ICONS = {"good": ":material/check_circle:", "fair": ":material/warning:", "poor": ":material/error:",
              "none": ":material/help:"}


def _when(ts: float | None) -> str:
    return "-" if ts is None else dt.datetime.fromtimestamp(float(ts)).strftime("%Y-%m-%d %H:%M")


def _cell(cell: pd.Series | None) -> None:
    if cell is None:
        st.markdown(":gray[not run]")
        return
    colour = BAND_COLOURS[str(cell["band"])]
    value = "R -" if cell["resilience"] is None or pd.isna(cell["resilience"]) else f"R {cell['resilience']:.1f}"
    st.markdown(f":{colour}-badge[{BAND_ICONS[str(cell['band'])]} **{value}**]")  # the icon says it without colour
    interval = str(cell["interval"])
    interval = f"95 % interval {interval[interval.index('['):]}" if "[" in interval else "no interval (repeat it)"
    detail = f"{cell['runs']} run{'s' if cell['runs'] != 1 else ''} · {recovery_words(cell['recovery'])}"
    st.caption(f"{escape_markdown(interval)}  \n{escape_markdown(detail)}")
    st.markdown(f"[open comparison]({page_url('compare', comparison=str(cell['comparison_id']))})")


def _matrix(cells: pd.DataFrame) -> None:
    st.subheader("Resilience R by experiment and topology")
    st.caption("Median R (0-100) of the latest analysed comparison, with its 95 % interval when repeats allow: "
               f":green-badge[{BAND_ICONS['good']} 95 and above] :orange-badge[{BAND_ICONS['fair']} 80 to 95] "
               f":red-badge[{BAND_ICONS['poor']} below 80]. Each cell opens its comparison.")
    topologies = sorted(cells["topology"].unique())
    with st.container(key="overview_matrix"):
        header = st.columns([1.3, *[1] * len(topologies)])
        header[0].markdown("**experiment**")
        for col, topo in zip(header[1:], topologies, strict=True):
            col.markdown(f"**{escape_markdown(topo)}**")
        for experiment, rows in cells.groupby("experiment", sort=True):
            cols = st.columns([1.3, *[1] * len(topologies)], border=False)
            cols[0].markdown(f"**{escape_markdown(experiment)}**")
            by_topo = {r["topology"]: r for _, r in rows.iterrows()}
            for col, topo in zip(cols[1:], topologies, strict=True):
                with col:
                    _cell(by_topo.get(topo))
            st.divider()
    missing = sorted(set(library_names()) - set(cells["experiment"]))
    if missing:
        st.caption("Not run yet: " + ", ".join(f"`{escape_markdown(m)}`" for m in missing) +
                   ". Run one with `aftershock run NAME` or from the Launch page.")


def _latest(entries: list[tuple[dict, dict | None]]) -> None:
    st.subheader("Latest comparisons")
    for row, summary in entries[:LATEST]:
        with st.container(border=True):
            title = f" · {row['title']}" if row.get("title") else ""
            link = page_url("compare", comparison=str(row["comparison_id"]))
            st.markdown(f"**{escape_markdown(row['experiment'])}**{escape_markdown(title)} · "
                        f"{_when(row.get('created_at'))} · [open]({link})")
            if row.get("running"):
                st.caption(":material/sensors: still running: follow it on the Live page.")
            elif summary is None:
                st.caption("Not analysed (no run could be analysed yet).")
            else:
                found = answer(summary)
                st.markdown(escape_markdown(found.sentence or found.confidence))
                if found.sentence:
                    st.caption(escape_markdown(found.confidence))


def render(config: DashboardConfig) -> None:
    st.title("Overview")
    st.caption("How each way of deploying the agents bends under each fault, and how fast it comes back.")
    comparisons, problem = data.load_comparisons(config.store_dir)
    if problem:
        st.error(f"Cannot read the run store: {problem}")
        return
    if comparisons.empty:
        st.info(EMPTY_MESSAGE)
        return
    entries = data.load_overview(config.store_dir, comparisons)
    cells = matrix_cells([(row, summary) for row, summary in entries if summary is not None])
    if cells.empty:
        st.info("No comparison has been analysed yet: the matrix appears once a comparison's runs have finished.")
    else:
        _matrix(cells)
    _latest(entries)
