"""The overload summary on synthetic logs with known answers: shed (429) and queued tasks counted apart, when the
first came, and an execution log without ``queued_s`` saying "unknown" rather than "none"."""

from __future__ import annotations

import pandas as pd
import pytest

from analysis.availability import availability_from_requests
from analysis.impact import lost_tasks
from analysis.overload import overload_summary
from tests.support.synth import T0, executions_for, requests_from_bins


def _overloaded() -> tuple[pd.DataFrame, pd.DataFrame]:
    """10 s of 10 requests/s; from T0 + 2 to T0 + 5 every other error is a 429 shed; three tasks queued."""
    req = requests_from_bins([(10, 0, 0)] * 2 + [(5, 5, 0)] * 3 + [(10, 0, 0)] * 5, start=T0)
    errors = req.index[req["outcome"] == "error"]
    req.loc[errors[::2], "outcome"] = "rejected"
    ex = executions_for(req)
    ok = ex.index[:3] + 30  # three tasks of the overloaded seconds waited 0.2, 0.4 and 0.6 s
    ex.loc[ok, "queued_s"] = [0.2, 0.4, 0.6]
    return req, ex


def test_shed_and_queued_tasks_are_counted_with_their_first_time() -> None:
    req, ex = _overloaded()
    shed = req[req["outcome"] == "rejected"]
    o = overload_summary(req, ex, T0, (T0 - 1, T0 + 20))
    assert o.requests == len(req) and o.rejected == len(shed) == 8
    assert o.rejected_share == pytest.approx(8 / len(req))
    assert o.first_rejected_s == pytest.approx(float(shed["ts"].min()) - T0)
    assert o.queued == 3 and o.queue_wait_max_s == pytest.approx(0.6)
    first = ex.loc[ex["queued_s"] > 0]
    assert o.first_queued_s == pytest.approx(float((first["start"] - first["queued_s"]).min()) - T0)
    assert o.text.startswith("shed 8 of 100 tasks (8.0 %)") and "queued 3 (longest wait 0.60 s" in o.text
    assert o.scaled is None and "no autoscaling policy" in o.text


def test_a_window_without_overload_says_neither() -> None:
    req, ex = _overloaded()
    o = overload_summary(req, ex, T0, (T0 + 6, T0 + 10))
    assert (o.rejected, o.queued, o.first_rejected_s) == (0, 0, None)
    assert o.text.startswith("neither shed nor queued")


def test_an_execution_log_older_than_queued_s_leaves_queueing_unknown() -> None:
    req, ex = _overloaded()
    o = overload_summary(req, ex.assign(queued_s=float("nan")), T0, (T0 - 1, T0 + 20))
    assert o.queued is None and o.rejected == 8 and "queueing unknown" in o.text
    o = overload_summary(req.assign(outcome="ok"), ex.drop(columns=["queued_s"]), T0, (T0 - 1, T0 + 20))
    assert o.queued is None and o.text.startswith("shed nothing; queueing unknown")
    o = overload_summary(req, None, T0, (T0 - 1, T0 + 20))
    assert o.queued is None and o.rejected == 8


def test_shed_requests_are_unavailable_and_lost_but_in_their_own_column() -> None:
    req, _ = _overloaded()
    frame = availability_from_requests(req, 1.0, T0, T0 + 10)
    assert int(frame["rejected"].sum()) == 8 and int(frame["failed"].sum()) == 7
    assert frame["total"].sum() == len(req)
    assert frame.loc[2, "availability"] == pytest.approx(0.5)  # 5 ok of 10 asked, shed or failed
    assert lost_tasks(frame, T0, T0 + 10) == 15
