"""Churn of devices is the environment: their ``member_dead`` never counts as the detection of the experiment's
fault (analysis/churn.py, analysis/detection.py)."""

from __future__ import annotations

import pandas as pd

from analysis.churn import churn_detections
from analysis.detection import time_to_detect


def _events(rows: list[tuple[float, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame([{"ts": ts, "kind": kind, "node": node, "region": region, "by": None}
                         for ts, kind, node, region in rows])


T0 = 100.0
ROWS = [
    (90.0, "node_started", "a-phone1", "a"),
    (98.0, "device_left", "a-phone1", "a"),           # the environment, just before the fault
    (100.0, "node_killed", "a-n1", "a"),              # the fault
    (101.0, "member_dead", "a-phone1", "a"),          # churn detected: not the fault's detection
    (102.5, "member_dead", "a-n1", "a"),              # the fault detected
    (104.0, "device_joined", "a-phone1", "a"),
    (110.0, "node_killed", "a-phone1", "a"),          # later a fault kills the device itself
    (111.0, "member_dead", "a-phone1", "a"),          # ... and that detection is the fault's
]


def test_a_member_dead_of_a_device_away_by_churn_is_marked_and_the_others_not() -> None:
    events = _events(ROWS)
    mask = churn_detections(events)
    assert mask.tolist() == [False, False, False, True, False, False, False, False]
    assert not churn_detections(_events([r for r in ROWS if r[1] != "device_left"])).any()


def test_churn_of_a_device_in_the_victim_region_is_not_the_detection_of_a_region_loss() -> None:
    events = _events(ROWS[:6])
    assert time_to_detect(events, T0, victim_regions=["a"]) == 2.5  # without the exclusion it would be 1.0
    assert time_to_detect(events, T0) == 2.5  # victims from the log: the killed node
    only_churn = _events([r for r in ROWS[:6] if r[2] != "a-n1"])
    assert time_to_detect(only_churn, T0, victim_regions=["a"]) is None


def test_a_device_a_fault_killed_is_detected_like_any_victim() -> None:
    events = _events(ROWS)
    assert time_to_detect(events, 109.0) == 2.0
    assert time_to_detect(events, 109.0, victims=["a-phone1"]) == 2.0


def test_events_loaded_unsorted_are_read_in_time_order() -> None:
    events = _events(list(reversed(ROWS)))
    assert churn_detections(events).sum() == 1
    assert bool(churn_detections(events).loc[len(ROWS) - 1 - 3])
