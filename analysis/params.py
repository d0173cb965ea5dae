"""Analysis parameters in one frozen object, so every caller computes with the same defaults."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from analysis.errors import AnalysisError

__all__ = ["AnalysisParams", "DEFAULT_PARAMS", "MIN_DT"]

#: the finest availability bin: below it a lab bin holds a handful of requests
MIN_DT = 0.1


@dataclass(frozen=True)
class AnalysisParams:
    """Knobs of the resilience definitions (docs/analysis.md explains each one).

    ``baseline_s`` None means every bin before injection is steady state; ``time_col`` is the
    request-log column requests are binned by (``end``, when the client learns the outcome,
    which is also when the client counter increments, so both sources agree). ``resolution``
    ``request`` places impact onset and recovery between the two requests that bracket them
    (analysis/edges.py), ``bin`` on bin edges (the only choice from series).
    """

    dt: float = 1.0
    eps: float = 0.01
    sustain_s: float = 10.0
    window_s: float = 120.0
    baseline_s: float | None = None
    slo: float = 0.999
    quantile: float = 0.99
    time_col: Literal["end", "ts"] = "end"
    burn_window: Literal["analysis", "impact"] = "analysis"
    resolution: Literal["request", "bin"] = "request"

    def __post_init__(self) -> None:
        if self.dt < MIN_DT or self.sustain_s < 0 or self.window_s <= 0:
            raise AnalysisError(f"the bin width dt must be >= {MIN_DT:g} s (got {self.dt:g}), window_s > 0 and "
                                "sustain_s >= 0")
        if self.resolution not in ("request", "bin"):
            raise AnalysisError(f"resolution must be 'request' or 'bin', got {self.resolution!r}")
        if not 0 < self.slo < 1:
            raise AnalysisError(f"slo must be in (0, 1), got {self.slo}")
        if not 0 < self.quantile < 1:
            raise AnalysisError(f"quantile must be in (0, 1), got {self.quantile}")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for the JSON summary."""
        return asdict(self)


DEFAULT_PARAMS = AnalysisParams()
