"""Run: one run in detail, from the experiment's timeline to the deployment's own detections."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import streamlit as st

from dashboards import data
from dashboards.config import DashboardConfig
from dashboards.ui import escape_markdown, export_section, page_url, plot, query_param
from presentation import figures, frames
from presentation.text import fmt_seconds, recovery_words
from store import RunRecord

__all__ = ["render", "EMPTY_MESSAGE", "MEMBERSHIP_KINDS"]

EMPTY_MESSAGE = "No runs yet: run `aftershock run node-loss` in a terminal, or use the Launch page."
MEMBERSHIP_KINDS = ("member_suspected", "member_dead", "member_alive", "node_killed", "node_restarted",
                    "node_migrated", "node_paused", "node_resumed", "region_killed", "region_restored",
                    "hub_failover", "agent_killed", "agent_restarted")
_LATENCY = {"p50": "p50", "p90": "p90", "p99": "p99"}
_THROUGHPUT = {"ok_per_s": "ok/s", "failed_per_s": "failed/s"}


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
    chosen = st.selectbox("Run", ids, index=ids.index(wanted) if wanted else 0, format_func=labels.get)
    if chosen and query_param("run") != chosen:
        st.query_params["run"] = chosen
    return chosen


def _result(config: DashboardConfig, run: RunRecord) -> dict | None:
    """This run's entry of its comparison's summary (same numbers as the CLI and the reports)."""
    if not run.comparison_id:
        return None
    comparison, _ = data.load_comparison(config.store_dir, run.comparison_id)
    if not comparison:
        return None
    summary, _ = data.load_summary(config.store_dir, run.comparison_id, data.comparison_stamp(comparison))
    return next((r for r in (summary or {}).get("results") or [] if r.get("run_id") == run.run_id), None)


def _metrics(result: dict | None) -> None:
    if result is None:
        return
    m = result["metrics"]
    cols = st.columns(5)
    cols[0].metric("Resilience R", "-" if m.get("resilience") is None else f"{m['resilience']:.1f}",
                   help="1 - lost availability-seconds / (A0 x window), 0..100")
    back = m.get("ttr_s") if m.get("ttr_s") is not None else m.get("returned_s")
    dipped = m.get("recovery") != "no_impact" and (m.get("depth") or 0) >= 0.01  # as the answer reads it
    cols[1].metric("Back to baseline after", fmt_seconds(back) if dipped else "no dip",
                   help="from the injection; TTR counts only when the deployment healed by itself")
    cols[2].metric("Detected after (TTD)", fmt_seconds(m.get("ttd_s")))
    cols[3].metric("Deepest dip", f"{(m.get('depth') or 0) * 100:.0f} %")
    cols[4].metric("Lost tasks", f"{m.get('lost_tasks') or 0:,.0f}")
    kind = m.get("recovery")
    colour = {"self_healed": "green", "no_impact": "green", "recovered_after_lift": "orange",
              "not_recovered": "red"}.get(kind or "", "gray")
    st.badge(recovery_words(kind), color=colour)
    text = (result.get("recovery") or {}).get("text")
    if text:
        st.markdown(escape_markdown(text[0].upper() + text[1:] + "."))
    for note in result.get("notes") or []:
        st.caption(escape_markdown(note))


def _windows(result: dict | None, detail: dict) -> pd.DataFrame:
    if result is not None:
        return frames.fault_windows({"results": [result]})
    return detail["windows"]


def _event_log(events: pd.DataFrame) -> None:
    st.subheader("Event log")
    if events.empty:
        st.info("No event log attached to this run.")
        return
    left, right = st.columns([2, 3])
    text = left.text_input("Search the event log", key="event_search", placeholder="node, region, agent, kind...")
    kinds = right.multiselect("Kinds", sorted(events["kind"].astype(str).unique()), key="event_kinds")
    shown = frames.filter_events(events, text, kinds).fillna("")
    st.caption(f"{len(shown)} of {len(events)} events · t in seconds since injection")
    st.dataframe(shown, hide_index=True, height=280, width="stretch", key="event_log",
                 column_config={"t": st.column_config.NumberColumn("t (s)", format="%.2f")})


def _journal(config: DashboardConfig, run_id: str, stamp: str, detail: dict) -> None:
    st.subheader("Hypothesis")
    journal = data.load_journal(config.store_dir, run_id, stamp)
    hypothesis = frames.hypothesis_table(journal)
    if journal is None:
        st.info("No Chaos Toolkit journal stored for this run.")
    else:
        if hypothesis.empty:
            st.info("The journal has no steady-state probe results.")
        else:
            st.dataframe(hypothesis, hide_index=True, width="stretch")
        st.download_button("Download journal (JSON)", data=json.dumps(journal, indent=1, default=str),
                           file_name=f"{run_id}-journal.json", mime="application/json")
    if not detail["timeline"].empty:
        with st.expander("Activities (journal timeline)"):
            st.dataframe(detail["timeline"], hide_index=True, width="stretch", column_config={
                "start": st.column_config.NumberColumn("start (s)", format="%.2f"),
                "end": st.column_config.NumberColumn("end (s)", format="%.2f")})


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
    back = f" · [its comparison]({page_url('compare', comparison=run.comparison_id)})" if run.comparison_id else ""
    st.caption(f"Experiment **{escape_markdown(run.experiment)}** · topology **{escape_markdown(run.topology)}** · "
               f"repeat {run.repeat} · status {run.status} · lab `{escape_markdown(run.lab or '-')}` · "
               f"id `{run_id}`{back}")
    if run.injected_at is None:
        st.info("This run has no injection time (its method did not run yet): times are relative to its start.")
    if run.status == "running":
        st.info("This run is still going: the Live page follows it as it runs.")
    result = _result(config, run)
    _metrics(result)
    stamp = data.run_stamp(run)
    curves = data.load_run_curves(config.store_dir, run_id, stamp)
    detail = data.load_run_detail(config.store_dir, run_id, stamp)
    for p in (curves["problem"], detail["problem"]):
        if p:
            st.warning(p)
    if curves["source"] == "series":
        st.caption("No request log attached to this run: availability from the collected client counters.")
    windows = _windows(result, detail)
    plot(figures.run_timeline_figure(curves["availability"], detail["timeline"], windows=windows), "run_timeline")
    keyed = {"topology": run.topology, "run_id": run_id}
    left, right = st.columns(2)
    with left:
        plot(figures.metric_figure(curves["latency"].assign(**keyed), _LATENCY, title="Latency of successful requests",
                                   yaxis="seconds", windows=windows), "run_latency")
    with right:
        plot(figures.metric_figure(curves["availability"].assign(**keyed), _THROUGHPUT, title="Throughput",
                                   yaxis="requests / s", windows=windows), "run_throughput")
    plot(figures.agents_figure(curves["agents"]), "run_agents")
    events = detail["events"]
    membership = events[events["kind"].isin(MEMBERSHIP_KINDS)] if not events.empty else events
    plot(figures.events_figure(membership), "run_events")
    _event_log(events)
    _journal(config, run_id, stamp, detail)
    export_section(config, run_id)
