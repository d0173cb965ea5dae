"""Churn is the environment, not the fault: which detections in the event log are of devices that left on their
own schedule (``device_left``, fleet/supervisor/churn.py) rather than of the experiment's victims.

A ``member_dead`` of a node counts as churn when the node's latest lifecycle event before it is a ``device_left``:
the device was away, no fault had hit it since. A device a fault killed (``node_killed`` after its rejoin) is a
victim like any node. Why by events and not by class: the event log is all a stored run keeps, and it says who
left by churn.
"""

from __future__ import annotations

import pandas as pd

__all__ = ["CHURN_LEFT", "LIFECYCLE_KINDS", "churn_detections"]

CHURN_LEFT = "device_left"
#: events that say what last happened to a node's process
LIFECYCLE_KINDS = frozenset({"device_left", "device_joined", "node_started", "node_killed", "node_restarted",
                             "node_paused", "node_resumed", "node_throttled"})


def churn_detections(events: pd.DataFrame) -> pd.Series:
    """A boolean mask over ``events``: the ``member_dead`` rows that detect a device away by churn."""
    mask = pd.Series(False, index=events.index)
    if events.empty or "node" not in events.columns or not (events["kind"].astype(str) == CHURN_LEFT).any():
        return mask
    order = events.assign(_ts=events["ts"].astype(float)).sort_values("_ts", kind="stable")
    last: dict[str, str] = {}
    for index, kind, node in zip(order.index, order["kind"].astype(str), order["node"], strict=True):
        if node is None or (isinstance(node, float) and pd.isna(node)):
            continue
        if kind in LIFECYCLE_KINDS:
            last[str(node)] = kind
        elif kind == "member_dead" and last.get(str(node)) == CHURN_LEFT:
            mask.loc[index] = True
    return mask
