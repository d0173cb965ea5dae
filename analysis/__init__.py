"""Resilience analysis: plain functions over pandas, no I/O.

The dashboard, the reports and the CLI compute the same numbers through this package; the
definitions are in docs/analysis.md and the JSON summary in docs/results.md.
"""

from analysis.availability import availability_from_requests, availability_from_series
from analysis.bounds import DetectionBound, hub_detection_bound, swim_detection_bound, ttr_is_suspect
from analysis.compare import ComparisonSummary, bootstrap_median_ci, compare
from analysis.detection import time_to_detect
from analysis.errors import AnalysisError
from analysis.fragility import classify_fragility, fragility_curves
from analysis.jsonsafe import SCHEMA_VERSION, json_safe
from analysis.params import AnalysisParams
from analysis.recovery import Recovery, analyse_availability
from analysis.run import RunInput, RunMetrics, analyse_run

__all__ = [
    "AnalysisError",
    "AnalysisParams",
    "ComparisonSummary",
    "DetectionBound",
    "Recovery",
    "RunInput",
    "RunMetrics",
    "SCHEMA_VERSION",
    "analyse_availability",
    "analyse_run",
    "availability_from_requests",
    "availability_from_series",
    "bootstrap_median_ci",
    "classify_fragility",
    "compare",
    "fragility_curves",
    "hub_detection_bound",
    "json_safe",
    "swim_detection_bound",
    "time_to_detect",
    "ttr_is_suspect",
]
