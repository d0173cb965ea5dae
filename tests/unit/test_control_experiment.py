"""A control run's experiment: the faults replaced by no-ops, everything else (and the timeline) unchanged."""

from __future__ import annotations

from aftershock.runner import NOOP_PROVIDER, control_experiment
from chaos.library import load_experiment


def test_control_replaces_only_the_faults() -> None:
    exp = load_experiment("region-loss-home").data
    ctl = control_experiment(exp)
    (kill,) = [a for a in ctl["method"] if a["type"] == "action"]
    assert kill["provider"] == NOOP_PROVIDER and kill["name"] == "kill-us-east (control: no-op)"
    original = next(a for a in exp["method"] if a["type"] == "action")
    assert kill["pauses"] == original["pauses"]  # same timeline: baseline, fault duration
    assert original["provider"]["func"] == "kill_region"  # the experiment itself is untouched
    assert [a for a in ctl["method"] if a["type"] == "probe"] == [a for a in exp["method"] if a["type"] == "probe"]
    assert ctl["rollbacks"] == exp["rollbacks"] and ctl["steady-state-hypothesis"] == exp["steady-state-hypothesis"]
