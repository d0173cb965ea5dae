"""Measurements a resilience engineer can trust, on real labs run by the real runner (issue 11's "done when").

- the home-region loss: centralized recovered only after the lift, decentralized and hybrid self-healed, hybrid by
  failover within its bound, no latency figure counting failures; said the same in the JSON, the CLI table, the
  Compare page and every report format; the ledger recomputed from the raw files;
- control runs stored in the same comparison and used by the verdicts;
- duplicates provoked (a client timeout shorter than the work) and counted by the ledger.
"""

from __future__ import annotations

import csv
import gzip
import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import pytest
import yaml

from aftershock.runner import RunPlan, run_comparison
from analysis import task_ledger
from core.logframes import read_execution_log, read_request_log
from core.settings import Settings
from core.wait import wait_until
from presentation.table import format_summary
from reports import build_report
from store import RunStore
from tests.conftest import topology_for_tests

pytestmark = [pytest.mark.lab, pytest.mark.timeout(900)]
APP_TIMEOUT_S = 60


def _page_script(page: str, home: str) -> None:
    """The AppTest script: one dashboard page with a config built the way app.py builds it."""
    import importlib

    from dashboards.config import config_from_environ

    env = {"AFTERSHOCK_HOME": home, "AFTERSHOCK_DASHBOARD_HOST": "127.0.0.1"}
    importlib.import_module(f"dashboards.pages.{page}").render(config_from_environ(env))


def page_text(page: str, home: Path, query: dict[str, str]) -> str:
    """Every text element the page rendered (it must render without an exception)."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_page_script, kwargs={"page": page, "home": str(home)},
                               default_timeout=APP_TIMEOUT_S)
    for key, value in query.items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    parts = [e.value for kind in ("info", "warning", "error", "caption", "markdown", "success")
             for e in getattr(at, kind)]
    frames = [str(df.value.to_dict("records")) for df in at.dataframe]
    return "\n".join(map(str, [*parts, *frames]))

TOPOLOGIES = ("centralized", "decentralized", "hybrid")


@pytest.fixture(scope="module")
def home_loss(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, dict]:
    """region-loss-home from the library on the three built-in topologies, 4 s baseline, a 12 s fault, 20 s after
    (the hub back about 2 s after the restore, then the 10 s a recovery must hold)."""
    settings = Settings(home=tmp_path_factory.mktemp("home-loss") / "home").ensure()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AFTERSHOCK_BASELINE_S", "4")
        mp.setenv("AFTERSHOCK_FAULT_S", "12")
        summary = run_comparison(settings, RunPlan(experiment="region-loss-home", topologies=list(TOPOLOGIES),
                                                   warmup_s=4, observe_s=20))
    return settings, summary


def _results(summary: dict) -> dict[str, dict]:
    return {r["topology"]: r for r in summary["results"]}


def test_home_region_loss_is_classified_per_topology(home_loss) -> None:
    _, summary = home_loss
    assert summary["schema_version"] == 2
    res = _results(summary)
    central, mesh, hybrid = res["centralized"], res["decentralized"], res["hybrid"]
    assert central["metrics"]["recovery"] == "recovered_after_lift", central["recovery"]
    assert central["metrics"]["ttr_s"] is None and central["metrics"]["recovered"] is False
    assert central["metrics"]["ttr_after_lift_s"] >= 0 and central["bounds"]["mechanism"]["kind"] == "lift"
    assert re.match(r"did not recover while us-east was dark \(1\d s\); recovered [\d.]+ s after the restore began$",
                    central["recovery"]["text"]), central["recovery"]["text"]
    for run in (mesh, hybrid):
        assert run["metrics"]["recovery"] == "self_healed", run["recovery"]
        (window,) = run["fault_windows"]  # back while the fault was still active
        assert run["metrics"]["ttr_s"] is not None and run["metrics"]["ttr_s"] < window["end"] - run["injected_at"]
    assert hybrid["bounds"]["mechanism"]["kind"] == "failover" and not hybrid["bounds"]["violated"]
    assert not any(r["bounds"]["violated"] for r in summary["results"])
    for run in summary["results"]:
        (window,) = run["fault_windows"]
        assert (window["action"], window["targets"]) == ("kill_region", ["us-east"])
        assert 0 < window["duration_s"] <= 14.0  # from the kill's effect to the start of the restore


def test_no_latency_figure_counts_failed_requests(home_loss) -> None:
    settings, summary = home_loss
    with RunStore.open(settings.store_dir, readonly=True) as store:
        for run in summary["results"]:
            requests = store.load_requests(run["run_id"])
            t0 = run["injected_at"]
            lo, hi = run["latency"]["window_s"]
            part = requests[(requests["end"] >= t0 + lo) & (requests["end"] < t0 + hi)]
            ok = part.loc[part["outcome"] == "ok", "latency_s"]
            if ok.empty:
                assert run["metrics"]["p99_ok_s"] is None and run["metrics"]["p99_inflation"] is None
                assert "no successful requests" in run["latency"]["inflation_reason"]
            else:
                assert run["metrics"]["p99_ok_s"] == pytest.approx(float(ok.quantile(0.99)))
    central = _results(summary)["centralized"]
    errors = central["latency"]["impact"]["time_to_fail"]
    assert errors["n"] > 0 and central["metrics"]["time_to_fail_p99_s"] == errors["p99"]  # failures: apart


def test_the_class_reads_the_same_in_the_cli_the_dashboard_and_every_report(home_loss) -> None:
    settings, summary = home_loss
    sentence = _results(summary)["centralized"]["recovery"]["text"]
    assert f"centralized (one run: repeat to confirm): {sentence}" in format_summary(summary)
    cid = summary["comparison_id"]
    with RunStore.open(settings.store_dir, readonly=True) as store:
        md = build_report(store, cid, "md", home=settings.home).decode()
        html = build_report(store, cid, "html", home=settings.home).decode()
        junit = build_report(store, cid, "junit", home=settings.home)
        doc = json.loads(build_report(store, cid, "json", home=settings.home))
    assert "recovered after the lift" in md and "self-healed" in md
    assert "recovered after the lift" in html and "did not recover while us-east was dark" in html
    assert _results(doc)["centralized"]["metrics"]["recovery"] == "recovered_after_lift"
    cases = {(s.get("name").rsplit(" / ", 1)[-1], c.get("name")): c for s in ET.fromstring(junit)
             for c in s.iter("testcase")}
    assert cases[("centralized", "recovers by itself while the fault is active")].find("failure") is not None
    assert cases[("hybrid", "recovers by itself while the fault is active")].find("failure") is None
    page = page_text("compare", settings.home, {"comparison": cid})
    assert "recovered after the lift" in page and sentence in page.replace("\\", "")


def test_the_ledger_adds_up_to_the_raw_files(home_loss) -> None:
    """Recomputed from the kept raw files with the csv module: no pandas, no analysis code."""
    settings, summary = home_loss
    with RunStore.open(settings.store_dir, readonly=True) as store:
        for run in summary["results"]:
            with gzip.open(store.request_log_path(run["run_id"]), "rt", newline="") as fh:
                requests = [r for r in csv.DictReader(fh) if r["task"]]
            ex_path = store.execution_log_path(run["run_id"])
            assert ex_path is not None, "the agents write no execution log (lab status field execution_log)"
            with gzip.open(ex_path, "rt", newline="") as fh:
                runs = Counter(r["task"] for r in csv.DictReader(fh))
            expected: Counter = Counter()
            for r in requests:
                n, outcome = runs[r["task"]], r["outcome"]
                expected["duplicated" if n >= 2 else {"ok": "ok" if n else "phantom",
                                                      "error": "unacknowledged" if n else "failed",
                                                      "timeout": "indeterminate"}[outcome]] += 1
            ledger = run["ledger"]
            assert ledger["tasks"] == len(requests)
            assert {k: v for k, v in ledger["classes"].items() if v} == dict(expected), run["topology"]
            # an acknowledged task without an execution row can only be one a node answered just before its
            # process died (killed, restarted, or the lab stopped: its last batch unwritten): the ledger names
            # the hole in the log instead of hiding it. The death may come before the client saw the answer
            # (the reply still crossing the link), never before the request was sent.
            deaths = [(str(e["node"] or ""), float(e["ts"])) for e in store.load_events(run["run_id"]).to_dict(
                "records") if e["kind"] in ("node_killed", "node_restarted", "lab_stopped")]
            for r in requests:
                if r["outcome"] == "ok" and runs[r["task"]] == 0:
                    sent, end = float(r["ts"]), float(r["end"])
                    assert any((not node or r["agent"].startswith(f"{node}-")) and sent <= ts < end + 2.0
                               for node, ts in deaths), r


def write_node_loss(path: Path) -> Path:
    path.write_text(yaml.safe_dump({
        "title": "lose one eu-west node", "description": "short experiment for the control-run test",
        "method": [{"type": "action", "name": "kill one eu-west node", "pauses": {"before": 1, "after": 3},
                    "provider": {"type": "python", "module": "chaos.actions", "func": "kill_node",
                                 "arguments": {"region": "eu-west", "count": 1, "seed": 3}}}],
        "rollbacks": [{"type": "action", "name": "heal the lab",
                       "provider": {"type": "python", "module": "chaos.actions", "func": "heal"}}],
    }))
    return path


def test_control_runs_are_stored_with_the_comparison_and_used_by_the_verdicts(settings: Settings,
                                                                              tmp_path: Path) -> None:
    plan = RunPlan(experiment=str(write_node_loss(tmp_path / "loss.yaml")), topologies=["decentralized", "hybrid"],
                   repeat=2, warmup_s=2, observe_s=3, control=True)
    summary = run_comparison(settings, plan)
    assert [o["control"] for o in summary["runs"]] == [False, True] * 4
    with RunStore.open(settings.store_dir, readonly=True) as store:
        runs = store.get_comparison(summary["comparison_id"])["runs"]
        assert len(runs) == 8 and sum(bool(r["settings"].get("control")) for r in runs) == 4
        for run in runs:
            if run["settings"].get("control"):
                assert store.load_fault_windows(run["run_id"]) == []  # nothing was broken
                (noop,) = [a for a in store.load_timeline(run["run_id"]) if a["type"] == "action"]
                assert noop["name"].endswith("(control: no-op)")
    controls = [r for r in summary["results"] if r["control"]]
    # nothing was injected: no window, and any dip (a busy machine) is noise the deployment recovered from itself
    assert len(controls) == 4 and all(r["fault_windows"] == [] for r in controls)
    assert {r["metrics"]["recovery"] for r in controls} <= {"no_impact", "self_healed", "not_recovered"}
    assert {t: s["runs"] for t, s in summary["summary"].items()} == {"decentralized": 2, "hybrid": 2}
    for topo in ("decentralized", "hybrid"):
        noise = summary["controls"][topo]["noise"]
        assert summary["controls"][topo]["runs_used"] == 2 and noise["ttr_s"]["n"] == 2
        assert noise["ttr_s"]["spread"] is not None
    for verdict in summary["verdicts"]:
        assert set(verdict["control_noise"]) == {"decentralized", "hybrid"}, verdict
    assert summary["control_effects"], "each topology's fault effect is judged against its control"


def test_duplicates_provoked_by_a_client_timeout_shorter_than_the_work(lab, settings: Settings,
                                                                     tmp_path: Path) -> None:
    """Work of 0.8 s against a 0.4 s timeout: the gateway's retry on another agent runs the task twice."""
    topo = topology_for_tests("hybrid", workload={
        "tasks_per_s": 10, "timeout_s": 0.4,
        "work_time": {"distribution": "constant", "median_ms": 800, "sigma": 0.0, "max_ms": 800}})
    status = lab(topo)
    assert status.get("execution_log"), "the lab status names no execution log"

    def timeouts() -> int:
        with open(status["request_log"], newline="") as fh:
            return sum(r["outcome"] == "timeout" for r in csv.DictReader(fh))

    wait_until(lambda: timeouts() >= 20, 60, interval_s=0.5, what="20 client timeouts")
    # the lab goes on writing: both readings (the ledger's and the csv module's) use one copy of each log
    copies = {}
    for key in ("request_log", "execution_log"):
        copies[key] = tmp_path / Path(status[key]).name
        shutil.copyfile(status[key], copies[key])
    ledger = task_ledger(read_request_log(copies["request_log"]), read_execution_log(copies["execution_log"]))
    with open(copies["execution_log"], newline="") as fh:
        runs = Counter(r["task"] for r in csv.DictReader(fh))
    with open(copies["request_log"], newline="") as fh:
        tasks = {r["task"] for r in csv.DictReader(fh) if r["task"]}
    duplicated = sum(1 for t in tasks if runs[t] >= 2)
    assert duplicated > 0 and ledger.classes["duplicated"] == duplicated
    assert ledger.properties["no_duplicates"] is False
    assert ledger.classes["indeterminate"] + ledger.classes["duplicated"] > 0
