"""The task ledger: every task classified from both sides; acknowledged session writes checked, Jepsen-style."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.ledger import LEDGER_CLASSES, task_ledger
from tests.support.synth import T0, executions_for, requests_from_bins


def _log(outcomes: list[str], sessions: int = 1) -> pd.DataFrame:
    ok, err, tmo = outcomes.count("ok"), outcomes.count("error"), outcomes.count("timeout")
    req = requests_from_bins([(ok, err, tmo)], start=T0, sessions=sessions)
    return req.sort_values("end").reset_index(drop=True)


def test_known_answer_one_task_of_every_class() -> None:
    req = requests_from_bins([(8, 4, 2)], start=T0, sessions=14)
    shed = req.index[req["outcome"] == "error"][2:]
    req.loc[shed, "outcome"] = "rejected"  # two tasks shed with a 429
    tasks = {o: list(req.loc[req["outcome"] == o, "task"]) for o in ("ok", "error", "timeout", "rejected")}
    runs = {tasks["ok"][0]: 2,  # retried after a lost answer: duplicated although the client saw ok
            tasks["ok"][1]: 0,  # acknowledged, never recorded: phantom
            tasks["error"][0]: 1,  # the hub died after the agent finished: unacknowledged
            tasks["timeout"][0]: 1,  # timed out, but it ran: indeterminate (executed)
            tasks["timeout"][1]: 3,  # a retry storm: duplicated
            tasks["rejected"][0]: 0,  # shed, and nothing ran: rejected (apart from failures)
            tasks["rejected"][1]: 1}  # "shed", yet an agent ran it: the 429 was not definite
    ledger = task_ledger(req, executions_for(req, runs=runs))
    assert ledger.classes == {"ok": 6, "duplicated": 2, "failed": 1, "rejected": 1, "indeterminate": 1,
                              "unacknowledged": 2, "phantom": 1}
    assert sum(ledger.classes.values()) == ledger.tasks == len(req)
    assert ledger.indeterminate_executed == 1 and ledger.indeterminate_not_executed == 0
    assert ledger.executions == 6 + 2 + 1 + 1 + 3 + 1 and ledger.orphan_executions == 0
    assert ledger.properties["no_duplicates"] is False and ledger.properties["no_phantom_acknowledgements"] is False


def test_orphans_and_untracked_rows_are_counted_not_classified() -> None:
    req = requests_from_bins([(5, 0, 0)], start=T0)
    ex = pd.concat([executions_for(req), executions_for(req.iloc[:1].assign(task="elsewhere"))], ignore_index=True)
    req.loc[0, "task"] = ""
    ledger = task_ledger(req, ex)
    assert ledger.untracked_requests == 1 and ledger.tasks == 4 and ledger.orphan_executions == 2


@settings(max_examples=60, deadline=None)
@given(spec=st.lists(st.tuples(st.sampled_from(["ok", "error", "timeout", "rejected"]), st.integers(0, 3)),
                     min_size=1, max_size=60))
def test_classes_partition_the_request_log(spec) -> None:
    outcomes = [o for o, _ in spec]
    req = _log([o if o != "rejected" else "error" for o in outcomes], sessions=5)
    # the errors drawn as rejections become 429s, in the order drawn
    errors = req.index[req["outcome"] == "error"]
    drawn = [o for o in outcomes if o in ("error", "rejected")]
    req.loc[errors, "outcome"] = drawn
    # give each row its drawn execution count, matched by position in end order within each outcome
    runs = {}
    for outcome in ("ok", "error", "timeout", "rejected"):
        counts = [k for o, k in spec if o == outcome]
        for task, k in zip(req.loc[req["outcome"] == outcome, "task"], counts, strict=True):
            runs[task] = k
    ledger = task_ledger(req, executions_for(req, runs=runs))
    assert sum(ledger.classes[c] for c in LEDGER_CLASSES) == ledger.tasks == len(req)
    assert ledger.classes["duplicated"] == sum(k >= 2 for k in runs.values())
    assert ledger.executions == sum(runs.values())
    assert ledger.classes["failed"] == sum(o == "error" and k == 0 for o, k in spec)
    assert ledger.classes["rejected"] == sum(o == "rejected" and k == 0 for o, k in spec)


def _session_log() -> pd.DataFrame:
    """One session, five turns: ok write, ok write, timeout, ok (did it see turn 2?), ok."""
    rows = []
    for i, (outcome, seen) in enumerate([("ok", 1), ("ok", 1), ("timeout", None), ("ok", 0), ("ok", 1)]):
        rows.append({"ts": T0 + i, "end": T0 + i + 0.5, "client_region": "us-east", "session": "s1",
                     "outcome": outcome, "latency_s": 0.5, "agent": "n1-a1" if outcome == "ok" else "",
                     "served_region": "us-east", "session_ok": np.nan if seen is None else float(seen),
                     "attempts": 1, "task": f"t{i}"})
    return pd.DataFrame(rows)


def test_a_read_that_misses_the_acknowledged_write_is_a_lost_write() -> None:
    req = _session_log()
    ledger = task_ledger(req, executions_for(req), fault_windows=[(T0 + 1.6, T0 + 2.5)])
    assert ledger.writes_acknowledged == 4 and ledger.lost_writes == 1 and ledger.sessions_with_lost_writes == 1
    (loss,) = ledger.losses
    assert (loss.task, loss.read_task, loss.during_fault) == ("t1", "t3", True)
    assert ledger.properties["no_acknowledged_write_lost"] is False
    assert ledger.properties["no_loss_without_fault"] is True


def test_a_loss_with_no_fault_active_is_a_defect() -> None:
    req = _session_log()
    ledger = task_ledger(req, executions_for(req), fault_windows=[(T0 + 30, T0 + 40)])
    assert ledger.lost_writes_outside_fault == 1 and ledger.properties["no_loss_without_fault"] is False


def test_memory_ahead_of_the_client_is_not_a_loss() -> None:
    """The timed-out turn ran: the memory moved on without the client knowing; the next answer disagrees."""
    req = _session_log()
    ledger = task_ledger(req, executions_for(req, runs={"t2": 1}))
    assert ledger.lost_writes == 0 and ledger.memory_ahead == 1
    assert ledger.properties["no_acknowledged_write_lost"] is True


def test_latency_of_stable_and_lost_work() -> None:
    req = requests_from_bins([(20, 5, 5)], start=T0, latency_s=0.1, slow_latency_s=2.0)
    ledger = task_ledger(req, executions_for(req))
    assert ledger.latency["stable"] == {"n": 20, "p50": pytest.approx(0.1), "p99": pytest.approx(0.1)}
    assert ledger.latency["lost"]["n"] == 10 and ledger.latency["lost"]["p50"] == pytest.approx(2.0)


def test_without_an_execution_log_only_the_client_side_is_known() -> None:
    req = requests_from_bins([(5, 1, 1)], start=T0)
    ledger = task_ledger(req, None)
    assert ledger.classes["ok"] == 5 and ledger.classes["failed"] == 1 and ledger.classes["indeterminate"] == 1
    assert ledger.properties["no_duplicates"] is None
    assert any("no execution log" in n for n in ledger.notes)


def test_behind_a_hub_the_agents_write_nothing_and_a_lost_write_is_still_seen() -> None:
    """Hub topologies: the hub keeps the memory, its agents log session_write 0; the client's ok is the write."""
    req = _session_log()
    ledger = task_ledger(req, executions_for(req, writes=False), fault_windows=[(T0 + 1.6, T0 + 2.5)])
    assert ledger.writes_acknowledged == 4 and ledger.lost_writes == 1
    assert ledger.properties["no_acknowledged_write_lost"] is False
