"""Run: one run in detail, from the experiment's timeline to the deployment's own detections."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import streamlit as st

from dashboards import data
from dashboards.config import DashboardConfig
from dashboards.ui import export_section, plot, query_param
from presentation import figures, frames
from presentation.text import recovery_words

__all__ = ["render", "EMPTY_MESSAGE"]

EMPTY_MESSAGE = "No runs yet: run `aftershock run node-loss` in a terminal, or use the Launch page."
_MEMBERSHIP_KINDS = ("member_suspected", "member_dead", "member_alive", "node_killed", "node_restarted",
                     "node_migrated", "node_paused", "node_resumed", "region_killed", "region_restored",
                     "hub_failover", "agent_killed", "agent_restarted")


def _label(row: pd.Series) -> str:
    when = dt.datetime.fromtimestamp(float(row["started_at"])).strftime("%Y-%m-%d %H:%M:%S")
    return f"{when} {row['experiment']} / {row['topology']} #{row['repeat']} ({row['status']}) [{row['run_id']}]"


def _pick(runs: pd.DataFrame) -> str:
    wanted = query_param("run")
    ids = list(runs["run_id"])
    if wanted and wanted not in ids:
        st.warning(f"No run {wanted} in the store; pick one below.")
        wanted = None
    labels = {rid: _label(row) for rid, (_, row) in zip(ids, runs.iterrows(), strict=True)}
    return st.selectbox("Run", ids, index=ids.index(wanted) if wanted else 0, format_func=labels.get)


def _metrics(config: DashboardConfig, run: dict) -> None:
    """Headline figures of this run, taken from its comparison's summary (same numbers as the CLI)."""
    if not run.get("comparison_id"):
        return
    comparison, _ = data.load_comparison(config.store_dir, run["comparison_id"])
    if not comparison:
        return
    summary, _ = data.load_summary(config.store_dir, run["comparison_id"], data.comparison_stamp(comparison))
    result = next((r for r in (summary or {}).get("results") or [] if r.get("run_id") == run["run_id"]), None)
    if result is None:
        return
    m = result["metrics"]
    cols = st.columns(5)
    cols[0].metric("Resilience R", "-" if m.get("resilience") is None else f"{m['resilience']:.1f}")
    cols[1].metric("TTR", recovery_words(m.get("recovery")) if m.get("ttr_s") is None else f"{m['ttr_s']:.1f} s")
    cols[2].metric("TTD", "-" if m.get("ttd_s") is None else f"{m['ttd_s']:.2f} s")
    cols[3].metric("Depth", f"{m.get('depth') or 0:.3f}")
    cols[4].metric("Lost tasks", f"{m.get('lost_tasks') or 0:.0f}")
    for note in result.get("notes") or []:
        st.caption(note)


def render(config: DashboardConfig) -> None:
    st.title("Run detail")
    runs, problem = data.load_runs(config.store_dir)
    if problem:
        st.error(f"Cannot read the run store: {problem}")
        return
    if runs.empty:
        st.info(EMPTY_MESSAGE)
        return
    run_id = _pick(runs)
    run, problem = data.load_run(config.store_dir, run_id)
    if run is None:
        st.warning(problem or f"run {run_id} is gone")
        return
    st.caption(f"Experiment **{run['experiment']}** · topology **{run['topology']}** · repeat {run['repeat']} · "
               f"status {run['status']} · id `{run_id}`")
    if run.get("injected_at") is None:
        st.info("This run has no injection time (its method did not run yet): times are relative to its start.")
    _metrics(config, run)
    stamp = data.run_stamp(run)
    curves = data.load_run_curves(config.store_dir, run_id, stamp)
    detail = data.load_run_detail(config.store_dir, run_id, stamp)
    for p in (curves["problem"], detail["problem"]):
        if p:
            st.warning(p)
    if curves["source"] == "series":
        st.caption("No request log attached to this run: availability from the collected client counters.")

    plot(figures.run_timeline_figure(curves["availability"], detail["timeline"]), "run_timeline")
    keyed = {"topology": run["topology"], "run_id": run_id}
    left, right = st.columns(2)
    with left:
        plot(figures.metric_figure(curves["latency"].assign(**keyed), ["p50", "p90", "p99"],
                                   title="Latency percentiles", yaxis="seconds"), "run_latency")
    with right:
        plot(figures.metric_figure(curves["availability"].assign(**keyed), ["ok_per_s", "failed_per_s"],
                                   title="Throughput", yaxis="requests / s"), "run_throughput")
    plot(figures.agents_heatmap(detail["agents"]), "run_agents")
    events = detail["events"]
    membership = events[events["kind"].isin(_MEMBERSHIP_KINDS)] if not events.empty else events
    plot(figures.events_figure(membership), "run_events")

    st.subheader("Event log")
    if events.empty:
        st.info("No event log attached to this run.")
    else:
        st.dataframe(events, hide_index=True, height=260)

    st.subheader("Hypothesis")
    journal = data.load_journal(config.store_dir, run_id, stamp)
    hypothesis = frames.hypothesis_table(journal)
    if journal is None:
        st.info("No Chaos Toolkit journal stored for this run.")
    else:
        if hypothesis.empty:
            st.info("The journal has no steady-state probe results.")
        else:
            st.dataframe(hypothesis, hide_index=True)
        st.download_button("Download journal (JSON)", data=json.dumps(journal, indent=1, default=str),
                           file_name=f"{run_id}-journal.json", mime="application/json")
    if not detail["timeline"].empty:
        st.subheader("Activities")
        st.dataframe(detail["timeline"], hide_index=True)
    export_section(config, run_id)
