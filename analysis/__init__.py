"""Resilience analysis: plain functions over pandas, no I/O.

The dashboard, the reports and the CLI compute the same numbers through this package; the
definitions are in docs/analysis.md and the JSON summary in docs/results.md.
"""

from analysis.availability import availability_from_requests, availability_from_series
from analysis.bounds import (
    DetectionBound,
    hub_detection_bound,
    ray_detection_bound,
    swim_detection_bound,
    ttr_is_suspect,
)
from analysis.compare import ComparisonSummary, bootstrap_median_ci, compare
from analysis.detection import time_to_detect
from analysis.errors import AnalysisError
from analysis.faults import FaultWindow, classify_recovery, fault_windows, recovery_text, windows_from_dicts
from analysis.fragility import classify_fragility, fragility_curves
from analysis.jsonsafe import SCHEMA_VERSION, json_safe
from analysis.latency import ok_latency_curve
from analysis.ledger import Ledger, task_ledger
from analysis.mechanism import Mechanism, MechanismBounds, identify_mechanism
from analysis.params import AnalysisParams
from analysis.recovery import Recovery, analyse_availability
from analysis.run import RunInput, RunMetrics, analyse_run
from analysis.sessions import SessionBound, sessions_lost_bound

__all__ = [
    "AnalysisError",
    "AnalysisParams",
    "ComparisonSummary",
    "DetectionBound",
    "FaultWindow",
    "Ledger",
    "Mechanism",
    "MechanismBounds",
    "Recovery",
    "RunInput",
    "RunMetrics",
    "SCHEMA_VERSION",
    "SessionBound",
    "analyse_availability",
    "analyse_run",
    "availability_from_requests",
    "availability_from_series",
    "bootstrap_median_ci",
    "classify_fragility",
    "classify_recovery",
    "compare",
    "fault_windows",
    "fragility_curves",
    "hub_detection_bound",
    "ray_detection_bound",
    "identify_mechanism",
    "json_safe",
    "ok_latency_curve",
    "recovery_text",
    "sessions_lost_bound",
    "swim_detection_bound",
    "task_ledger",
    "time_to_detect",
    "ttr_is_suspect",
    "windows_from_dicts",
]
