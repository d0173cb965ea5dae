"""Stored runs into the analysis: the one adapter from what the store holds to the analysis' typed inputs.

The runner, ``aftershock show``, the dashboard and the reports all call these, so they print the same
numbers for the same run.
"""

from results.stored import (
    DEFAULT_WINDOW_S,
    Source,
    analyse_stored_run,
    detection_bound,
    fragility_of,
    is_control,
    run_input,
    run_window,
    stored_fault_windows,
    summarise_comparison,
    sweep_axis,
)

__all__ = ["DEFAULT_WINDOW_S", "Source", "analyse_stored_run", "detection_bound", "fragility_of", "is_control",
           "run_input", "run_window", "stored_fault_windows", "summarise_comparison", "sweep_axis"]
