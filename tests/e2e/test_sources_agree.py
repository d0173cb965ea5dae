"""One live lab, two collectors at once (embedded and a real Prometheus), and the ground truth:
the collected series agree with each other, and the resilience figures from each source agree with the
request log's: the recovery class against the fault window, the time after the lift, the availability during the
fault; service latency (successes only) where the source can tell outcomes apart, and the task ledger adding up to
the request log."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import AnalysisParams, FaultWindow, RunInput, analyse_run
from collectors.base import targets_from_status
from collectors.embedded import EmbeddedCollector
from collectors.prometheus import PrometheusCollector
from collectors.promserver import PrometheusServer
from core.logframes import read_execution_log
from core.wait import wait_until
from fleet.lab import ControlClient, lab_status
from store import RunStore
from tests.support.collectors import require_prometheus
from tests.support.labutil import recovered_for

pytestmark = [pytest.mark.lab, pytest.mark.prometheus]

INTERVAL_S = 1.0
SUSTAIN_S = 5.0


def _counter_at(frame: pd.DataFrame, ts: np.ndarray) -> np.ndarray:
    frame = frame.sort_values("ts")
    return np.interp(ts, frame["ts"].to_numpy(), frame["value"].to_numpy())


def test_collectors_and_ground_truth_agree_on_a_real_outage(lab, settings, tmp_path: Path) -> None:
    require_prometheus()
    status = lab("centralized")
    name = status["name"]

    def targets():
        return targets_from_status(lab_status(settings, name))

    with RunStore.open(settings.store_dir) as store, PrometheusServer(tmp_path / "prom") as prom:
        prom.write_targets(name, targets())
        source = prom.source()
        emb_run = store.create_run(experiment="outage", topology="centralized")
        prom_run = store.create_run(experiment="outage", topology="centralized")
        embedded = EmbeddedCollector(store, emb_run, targets_fn=targets, interval_s=INTERVAL_S)
        via_prom = PrometheusCollector(source, store, prom_run, matchers={"aftershock_lab": name}, step=INTERVAL_S)
        embedded.start()
        via_prom.start()
        try:
            # Prometheus picks up file-SD targets within its refresh period: wait until it scrapes them all.
            wait_until(lambda: len(source.query_range("up", time.time() - 5, time.time(), 1.0)
                                   .drop_duplicates("instance")) >= len(targets()), 30, interval_s=0.5,
                       what="Prometheus to scrape every lab target")
            time.sleep(8)  # steady state: the baseline every source measures (not synchronisation)
            control = ControlClient.for_lab(status)
            injected = time.time()
            control.kill_region("us-east")
            victim_hub_killed = time.time()
            time.sleep(8)  # the outage being measured
            restored_at = time.time()
            control.restore_region("us-east")

            wait_until(lambda: recovered_for(status, SUSTAIN_S + 2), 90, interval_s=0.5, what="service to recover")
        finally:
            embedded.stop()
            via_prom.stop()
        store.flush()
        store.attach_request_log(emb_run, Path(status["request_log"]), settings.runs_dir)
        requests = store.load_requests(emb_run)
        emb = store.load_series(emb_run)
        prm = store.load_series(prom_run)

    # up drops to 0 for a killed node within two scrape intervals
    hub_up = emb[(emb["metric"] == "up") & (emb["node"] == "us-east-hub")]
    first_down = hub_up[(hub_up["ts"] > victim_hub_killed - INTERVAL_S) & (hub_up["value"] == 0)]["ts"].min()
    assert first_down - victim_hub_killed <= 2 * INTERVAL_S
    # series for every node from both collectors
    nodes = {n["name"] for n in status["nodes"]}
    assert set(emb.loc[emb["metric"] == "aftershock_agents_alive", "node"].dropna()) == nodes
    assert set(prm.loc[prm["metric"] == "aftershock_agents_alive", "node"].dropna()) == nodes
    # the same counters, within what one scrape interval can add
    metric = "aftershock_client_requests_total"
    for (region, outcome), e in emb[emb["metric"] == metric].groupby(["client_region", "outcome"], observed=True):
        p = prm[(prm["metric"] == metric) & (prm["client_region"] == region) & (prm["outcome"] == outcome)]
        assert not p.empty, (region, outcome)
        lo, hi = max(e["ts"].min(), p["ts"].min()), min(e["ts"].max(), p["ts"].max())
        grid = np.arange(lo, hi, INTERVAL_S)
        diff = np.abs(_counter_at(e, grid) - _counter_at(p, grid))
        per_interval = np.max(np.diff(_counter_at(e, np.append(grid, hi)))) if len(grid) > 1 else 0
        assert np.all(diff <= per_interval + 1), (region, outcome, diff.max(), per_interval)

    params = AnalysisParams(window_s=float(requests["end"].max()) - injected - 1, sustain_s=SUSTAIN_S)
    truth = analyse_run(RunInput(run_id=emb_run, topology="centralized", injected_at=injected, requests=requests,
                                 params=params))
    from_emb = analyse_run(RunInput(run_id=emb_run, topology="centralized", injected_at=injected, series=emb,
                                    params=params))
    from_prom = analyse_run(RunInput(run_id=prom_run, topology="centralized", injected_at=injected, series=prm,
                                     params=params))
    assert truth.metrics["depth"] > 0.8 and truth.metrics["recovered"]
    # A series sees a change at the first scrape after it (up to one scrape interval late) and the analysis bins
    # it (up to one bin late): the series' figures are exact to within a scrape interval and a bin.
    for other, tolerance in ((from_emb, params.dt + INTERVAL_S), (from_prom, 2.0)):
        assert other.source == "series" and other.metrics["recovered"]
        for key in ("impact_onset_s", "ttr_s"):
            assert abs(other.metrics[key] - truth.metrics[key]) <= tolerance, (other.run_id, key)

    # the fault window (injection to the start of the restore): the hub's region was dark until the restore,
    # so every source says the deployment came back only after the lift, and by how long after it
    window = (FaultWindow("kill-us-east", "kill_region", "region", injected, restored_at, "restore", ("us-east",),
                          what="us-east was dark", lift_phrase="the restore began"),)
    executions = Path(str(status.get("execution_log") or ""))
    ex = read_execution_log(executions) if str(executions) and executions.is_file() else None
    kw = {"topology": "centralized", "injected_at": injected, "fault_windows": window, "params": params}
    truth = analyse_run(RunInput(run_id=emb_run, requests=requests, executions=ex, **kw))
    by_source = [analyse_run(RunInput(run_id=emb_run, series=emb, **kw)),
                 analyse_run(RunInput(run_id=prom_run, series=prm, **kw))]
    m = truth.metrics
    assert m["recovery"] == "recovered_after_lift" and m["ttr_s"] is None and m["recovered"] is False
    assert m["ttr_after_lift_s"] >= 0 and m["returned_s"] == pytest.approx(restored_at - injected + m[
        "ttr_after_lift_s"], abs=0.01)
    assert truth.bounds["mechanism"]["kind"] == "lift" and truth.bounds["mechanism"]["violated"] is None
    assert m["availability_during_fault"] < 0.2 and truth.recovery["text"].startswith(
        "did not recover while us-east was dark")
    # service latency: successes only; the dark hub's refused connections are time to fail, never service
    assert m["time_to_fail_p99_s"] is not None and m["time_to_fail_p99_s"] < 1.0
    lo, hi = truth.latency["window_s"]
    ok = requests[(requests["outcome"] == "ok") & (requests["end"] >= injected + lo)
                  & (requests["end"] < injected + hi)]
    assert m["p99_ok_s"] == (pytest.approx(float(ok["latency_s"].quantile(0.99))) if len(ok) else None)
    for other, tolerance in zip(by_source, (params.dt + INTERVAL_S, 2.0), strict=True):  # a scrape and a bin
        om = other.metrics
        assert om["recovery"] == "recovered_after_lift", other.run_id
        assert abs(om["ttr_after_lift_s"] - m["ttr_after_lift_s"]) <= tolerance, other.run_id
        # a sampled counter smears up to one resolution step into each end of the window: the bound it allows
        smear = 2 * tolerance / (restored_at - injected)
        assert abs(om["availability_during_fault"] - m["availability_during_fault"]) <= smear, other.run_id
        assert om["p99_inflation"] is None and "does not separate" in other.latency["inflation_reason"]
    # the ledger accounts for every request of the log, whatever the agents' side says
    ledger = truth.ledger
    assert sum(ledger["classes"].values()) + ledger["untracked_requests"] == len(requests)
    tracked = requests[requests["task"].astype(str) != ""]
    if ex is None:  # the client's side alone: errors are failures, timeouts indeterminate
        assert ledger["classes"]["failed"] == int((tracked["outcome"] == "error").sum())
        assert ledger["classes"]["indeterminate"] == int((tracked["outcome"] == "timeout").sum())
    else:
        runs = ex["task"].value_counts()
        assert ledger["classes"]["duplicated"] == int(tracked["task"].map(runs).fillna(0).ge(2).sum())
