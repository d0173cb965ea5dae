"""Compare (home): how each topology bent and came back under one experiment."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from dashboards import data
from dashboards.config import DashboardConfig
from dashboards.ui import export_section, plot, query_param
from presentation import figures, frames
from presentation.text import recovery_words
from reports.text import md_escape

__all__ = ["render", "EMPTY_MESSAGE"]

EMPTY_MESSAGE = "No comparisons yet: run `aftershock run node-loss` in a terminal, or use the Launch page."


def _label(row: pd.Series) -> str:
    when = dt.datetime.fromtimestamp(float(row["created_at"])).strftime("%Y-%m-%d %H:%M")
    title = f" {row['title']}" if row["title"] else ""
    return f"{when}{title} ({row['topologies'] or 'no runs'}) [{row['comparison_id']}]"


def _pick(comparisons: pd.DataFrame) -> str | None:
    wanted = query_param("comparison")
    if wanted and wanted not in set(comparisons["comparison_id"]):
        st.warning(f"No comparison {wanted} in the store; showing the latest instead.")
        wanted = None
    experiments = sorted(comparisons["experiment"].astype(str).unique())
    default_exp = (comparisons.loc[comparisons["comparison_id"] == wanted, "experiment"].iloc[0] if wanted
                   else comparisons["experiment"].iloc[0])
    cols = st.columns([1, 2])
    experiment = cols[0].selectbox("Experiment", experiments, index=experiments.index(default_exp))
    subset = comparisons[comparisons["experiment"] == experiment].reset_index(drop=True)
    ids = list(subset["comparison_id"])
    labels = {cid: _label(row) for cid, (_, row) in zip(ids, subset.iterrows(), strict=True)}
    index = ids.index(wanted) if wanted in ids else 0
    return cols[1].selectbox("Comparison", ids, index=index, format_func=labels.get)


def render(config: DashboardConfig) -> None:
    st.title("Compare topologies")
    comparisons, problem = data.load_comparisons(config.store_dir)
    if problem:
        st.error(f"Cannot read the run store: {problem}")
        return
    if comparisons.empty:
        st.info(EMPTY_MESSAGE)
        return
    cid = _pick(comparisons)
    comparison, problem = data.load_comparison(config.store_dir, cid)
    if comparison is None:
        st.warning(problem or f"comparison {cid} is gone")
        return
    st.caption(f"Experiment **{comparison['experiment']}** · kind {comparison['kind']} · "
               f"{len(comparison['runs'])} runs · id `{cid}`")
    if not comparison["runs"]:
        st.info("This comparison has no runs yet; they appear here as the runner records them.")
        return
    if any(r["status"] == "running" for r in comparison["runs"]):
        st.info("Some runs of this comparison are still running: watch them on the Live page.")
    stamp = data.comparison_stamp(comparison)
    summary, s_problem = data.load_summary(config.store_dir, cid, stamp)
    curves = data.load_comparison_curves(config.store_dir, cid, stamp)
    for p in curves["problems"]:
        st.warning(p)

    plot(figures.availability_figure(curves["availability"], frames.fault_windows(summary)), "cmp_availability")
    left, right = st.columns(2)
    with left:
        plot(figures.metric_figure(curves["latency"], ["p50", "p99"], title="Latency of successes",
                                   yaxis="seconds"), "cmp_latency")
    with right:
        plot(figures.metric_figure(curves["availability"], ["ok_per_s", "failed_per_s"], title="Throughput",
                                   yaxis="requests / s"), "cmp_throughput")

    st.subheader("Summary: medians with 95% intervals")
    if summary is None:
        st.warning(s_problem or "no summary")
        return
    table = frames.summary_table(summary)
    if table.empty:
        st.info("No run of this comparison could be analysed yet (see below).")
    else:
        st.dataframe(table, hide_index=True, key="summary_table")
    for topo, body in sorted((summary.get("summary") or {}).items()):
        recovery = body.get("recovery") or {}
        single = body.get("single_run") or {}
        for stmt in single.get("statements") or []:
            st.markdown(f"**{md_escape(topo)}** ({single.get('label')}): {md_escape(stmt.get('text'))}")
        if not single and recovery.get("text"):
            st.markdown(f"**{md_escape(topo)}**: {recovery_words(recovery.get('kind'))}: "
                        f"{md_escape(recovery['text'])}")
    verdicts = frames.verdicts_table(summary)
    if not verdicts.empty:
        st.subheader("Verdicts")
        st.dataframe(verdicts, hide_index=True)
    for note in summary.get("notes") or []:
        st.caption(note)
    for skipped in summary.get("not_analysed") or []:
        st.caption(f"Not analysed: {skipped['run_id']} ({skipped['topology']}, {skipped['status']}): "
                   f"{skipped['error']}")
    if comparison["kind"] == "sweep":
        points = frames.fragility_points(summary)
        shapes = frames.fragility_shapes(points)
        st.subheader("Fragility")
        plot(figures.fragility_figure(points, shapes), "cmp_fragility")
        if shapes is not None:
            st.dataframe(shapes, hide_index=True)
    runs = pd.DataFrame([{"run": f"/run?run={r['run_id']}", "topology": r["topology"], "repeat": r["repeat"],
                          "status": r["status"]} for r in comparison["runs"]])
    st.subheader("Runs")
    st.dataframe(runs, hide_index=True, column_config={
        "run": st.column_config.LinkColumn("run", display_text=r"/run\?run=(.*)")})
    export_section(config, comparison["comparison_id"])
