"""Compare: what one comparison found, first as a sentence, then the curves, the table and the verdicts."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

from dashboards import data
from dashboards.config import DashboardConfig
from dashboards.ui import answer_box, escape_markdown, export_section, page_url, plot, query_param
from presentation import axes, figures, frames
from presentation.answer import answer

__all__ = ["render", "EMPTY_MESSAGE"]

EMPTY_MESSAGE = "No comparisons yet: run `aftershock run node-loss` in a terminal, or use the Launch page."
_THROUGHPUT = {"ok_per_s": "ok/s", "failed_per_s": "failed/s"}
_LATENCY = {"p50": "p50", "p99": "p99"}


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
    chosen = cols[1].selectbox("Comparison", ids, index=index, format_func=labels.get)
    if chosen and query_param("comparison") != chosen:
        st.query_params["comparison"] = chosen  # the URL names what is shown: reload and share keep it
    return chosen


def _verdicts(summary: dict) -> None:
    table = frames.verdicts_table(summary)
    if table.empty:
        return
    deciding = table[table["decides"]].drop(columns=["decides"])
    rest = table[~table["decides"]].drop(columns=["decides"])
    st.subheader("Verdicts")
    if deciding.empty:
        st.caption("No verdict decides anything yet: every pair of intervals overlaps, or there are too few "
                   "repeats.")
    else:
        st.dataframe(deciding, hide_index=True, width="stretch", key="verdicts_deciding")
    if not rest.empty:
        with st.expander(f"{len(rest)} verdict(s) without a clear difference"):
            st.dataframe(rest, hide_index=True, width="stretch")


def _details(summary: dict) -> None:
    bounds = frames.bounds_rows(summary)
    if not bounds.empty:
        st.subheader("Measurements beside their physical bounds")
        st.caption("A detection cannot beat its protocol's bound, a restart cannot beat detection plus the restart "
                   "delay; a measurement below its bound points at the measurement, not at the deployment.")
        st.dataframe(bounds, hide_index=True, width="stretch", key="bounds_table")
    recovery = frames.recovery_rows(summary)
    if not recovery.empty:
        with st.expander("How each run recovered"):
            st.dataframe(recovery, hide_index=True, width="stretch")
    ledger = frames.ledger_rows(summary)
    if not ledger.empty:
        with st.expander("Task ledger (every task: ok, failed, rejected, indeterminate, duplicated)"):
            st.dataframe(ledger, hide_index=True, width="stretch")
    overload = frames.overload_rows(summary)
    if not overload.empty:
        with st.expander("Overload: what each topology shed, queued or scaled, and when", expanded=True):
            st.caption("Shed: answered 429, never ran (apart from failures). Queued: waited for a slot, then ran. "
                       "Agents: start -> peak -> end under an autoscaling policy (added and removed by the "
                       "deployment's orchestrator). Absorbed: seconds from the injection until availability and "
                       "p99 held their baseline (p99 within 1.5x) for the sustain window.")
            st.dataframe(overload.drop(columns=["in words"]), hide_index=True, width="stretch", key="overload_table")
            for row in overload.to_dict("records"):
                st.markdown(f"- **{escape_markdown(row['topology'])}** ({escape_markdown(row['run'])}): "
                            f"{escape_markdown(row['in words'])}")
    cost = frames.cost_rows(summary)
    if not cost.empty:
        with st.expander("Cost: provisioned against used"):
            st.caption("Provisioned agent-seconds are what a cloud bills; busy agent-seconds what the tasks used. "
                       "Agent-hours per 1,000 successful tasks at 1 per agent-hour: multiply by your price. "
                       "Provisioning follows the autoscaler's steps; hubs, replacements and the network are not "
                       "counted.")
            st.dataframe(cost, hide_index=True, width="stretch", key="cost_table")
            curves = frames.capacity_curves(summary)
            if not curves.empty:
                plot(figures.metric_figure(curves, frames.CAPACITY_COLUMNS, title="Agents provisioned (solid) "
                                           "and busy (dotted)", yaxis="agents"), "cmp_capacity")


def _scale(summary: dict) -> None:
    """A sweep over fleet size: stronger as it scales? Harm and detection against size, then the figures."""
    st.subheader("Scale: stronger as it scales?")
    for line in axes.scale_lines(summary):
        st.markdown(f"- {escape_markdown(line)}")
    points = axes.scale_points(summary)
    left, right = st.columns(2)
    with left:
        plot(axes.scale_figure(points), "cmp_scale")
    with right:
        plot(axes.detection_figure(points), "cmp_scale_detection")
    st.caption(axes.SCALE_CAPTION)
    st.dataframe(axes.scale_rows(summary), hide_index=True, width="stretch", key="scale_table")


def _headroom(summary: dict) -> None:
    """A sweep over provisioned capacity: the smallest capacity that kept the SLO, and resilience against it."""
    st.subheader("Headroom: what resilience costs")
    for line in axes.headroom_lines(summary):
        st.markdown(f"- {escape_markdown(line)}")
    plot(axes.headroom_figure(axes.headroom_points(summary), (summary.get("headroom") or {}).get("slo")),
         "cmp_headroom")
    st.caption(axes.HEADROOM_CAPTION)
    st.dataframe(axes.headroom_rows(summary), hide_index=True, width="stretch", key="headroom_table")


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
    st.caption(f"Experiment **{escape_markdown(comparison.experiment)}** · {comparison.kind} · "
               f"{len(comparison.runs)} runs · id `{cid}`")
    if not comparison.runs:
        st.info("This comparison has no runs yet; they appear here as the runner records them.")
        return
    if any(r.status == "running" for r in comparison.runs):
        st.info("Some runs of this comparison are still running: watch them on the Live page.")
    stamp = data.comparison_stamp(comparison)
    summary, s_problem = data.load_summary(config.store_dir, cid, stamp)
    curves = data.load_comparison_curves(config.store_dir, cid, stamp)

    found = answer(summary)
    answer_box(found.lead, found.sentence, found.confidence, decided=found.decided)
    for p in curves["problems"]:
        st.warning(p)
    windows = frames.fault_windows(summary)
    plot(figures.availability_figure(curves["availability"], windows, frames.markers_frame(summary)),
         "cmp_availability")
    left, right = st.columns(2)
    with left:
        plot(figures.metric_figure(curves["latency"], _LATENCY, title="Latency of successful requests",
                                   yaxis="seconds", windows=windows), "cmp_latency")
    with right:
        plot(figures.metric_figure(curves["availability"], _THROUGHPUT, title="Throughput", yaxis="requests / s",
                                   windows=windows), "cmp_throughput")

    st.subheader("Summary: medians with 95 % intervals")
    if summary is None:
        st.warning(s_problem or "no summary")
        return
    table = frames.summary_table(summary)
    if table.empty:
        st.info("No run of this comparison could be analysed yet (see below).")
    else:
        st.dataframe(table, hide_index=True, width="stretch", key="summary_table")
    _verdicts(summary)
    _details(summary)
    for note in summary.get("notes") or []:
        st.caption(escape_markdown(note))
    for skipped in summary.get("not_analysed") or []:
        st.caption(escape_markdown(f"Not analysed: {skipped['run_id']} ({skipped['topology']}, {skipped['status']}): "
                                   f"{skipped['error']}"))
    if comparison.kind == "sweep" and summary.get("scale"):
        _scale(summary)
    elif comparison.kind == "sweep" and summary.get("headroom"):
        _headroom(summary)
    elif comparison.kind == "sweep":
        points = frames.fragility_points(summary)
        shapes = frames.fragility_shapes(points)
        st.subheader("Fragility")
        plot(figures.fragility_figure(points, shapes), "cmp_fragility")
        if shapes is not None:
            st.dataframe(shapes, hide_index=True)
    runs = pd.DataFrame([{"run": page_url("run", run=r.run_id), "topology": r.topology, "repeat": r.repeat,
                          "status": r.status, "control": bool((r.settings or {}).get("control"))}
                         for r in comparison.runs])
    st.subheader("Runs")
    st.dataframe(runs, hide_index=True, column_config={
        "run": st.column_config.LinkColumn("run", display_text=r"/run\?run=(.*)")})
    export_section(config, comparison.comparison_id)
