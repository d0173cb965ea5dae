"""Load shapes: how a workload's asked arrival rate moves over time, as pure, seeded functions.

A shape multiplies the workload's base rate (``tasks_per_s``) by a factor that depends on the time since the
load started: ``constant`` (1), ``ramp`` (linear from ``from_factor`` to ``to_factor`` over ``ramp_s``, then
held), ``surge`` (a flash crowd: ``factor`` for ``duration_s`` from ``start_s``), ``diurnal`` (a day compressed
into ``period_s``: ``1 + amplitude * sin``, starting at the trough) and ``bursty`` (Poisson arrivals with
bursts of ``burst_factor`` lasting ``burst_s``, their starts a seeded Poisson process of mean gap
``mean_gap_s``).

Arrivals are a non-homogeneous Poisson process drawn by thinning (Lewis and Shedler): candidates at the peak
rate, each kept with probability ``rate(t) / peak``. The same seed and shape give the same arrivals, so every
topology receives the same load. Nothing here does I/O or reads a clock: the load generator passes the time.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Callable, Iterator
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

__all__ = [
    "Constant",
    "Ramp",
    "Surge",
    "Diurnal",
    "Bursty",
    "LoadShape",
    "RateFunction",
    "rate_function",
    "peak_factor",
    "arrival_times",
    "expected_count",
]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Constant(_Shape):
    kind: Literal["constant"] = "constant"


class Ramp(_Shape):
    kind: Literal["ramp"]
    from_factor: float = Field(default=0.1, ge=0, le=100)
    to_factor: float = Field(default=1.0, ge=0, le=100)
    ramp_s: float = Field(default=60.0, gt=0, le=86_400)


class Surge(_Shape):
    kind: Literal["surge"]
    factor: float = Field(default=3.0, ge=0, le=100)
    start_s: float = Field(default=30.0, ge=0, le=86_400)
    duration_s: float = Field(default=20.0, gt=0, le=86_400)


class Diurnal(_Shape):
    kind: Literal["diurnal"]
    period_s: float = Field(default=120.0, gt=0, le=86_400)
    amplitude: float = Field(default=0.5, ge=0, le=1)


class Bursty(_Shape):
    kind: Literal["bursty"]
    burst_factor: float = Field(default=4.0, ge=1, le=100)
    burst_s: float = Field(default=2.0, gt=0, le=3600)
    mean_gap_s: float = Field(default=15.0, gt=0, le=86_400)

    @model_validator(mode="after")
    def _gap_longer_than_burst(self) -> Bursty:
        if self.mean_gap_s <= self.burst_s:
            raise ValueError("mean_gap_s must be longer than burst_s (bursts would overlap all the time)")
        return self


LoadShape = Annotated[Constant | Ramp | Surge | Diurnal | Bursty, Field(discriminator="kind")]

#: rate(t) in tasks/s, ``t`` in seconds since the load started.
RateFunction = Callable[[float], float]


def peak_factor(shape: LoadShape) -> float:
    """The largest factor the shape ever asks (the thinning bound)."""
    if isinstance(shape, Ramp):
        return max(shape.from_factor, shape.to_factor, 1e-9)
    if isinstance(shape, Surge):
        return max(1.0, shape.factor)
    if isinstance(shape, Diurnal):
        return 1.0 + shape.amplitude
    if isinstance(shape, Bursty):
        return shape.burst_factor
    return 1.0


class _Bursts:
    """Burst windows of a bursty shape, drawn lazily from a seeded generator as time moves on."""

    def __init__(self, shape: Bursty, seed: int | str) -> None:
        self.shape = shape
        self.rng = random.Random(f"{seed}:bursts")
        self.starts: list[float] = []
        self.next_start = 0.0

    def inside(self, t: float) -> bool:
        while self.next_start <= t:
            # Gaps between burst ends and the next start are exponential; the burst itself is burst_s long.
            self.next_start += self.rng.expovariate(1.0 / (self.shape.mean_gap_s - self.shape.burst_s))
            self.starts.append(self.next_start)
            self.next_start += self.shape.burst_s
        i = bisect.bisect_right(self.starts, t) - 1
        return i >= 0 and t < self.starts[i] + self.shape.burst_s


def rate_function(shape: LoadShape, base_rate: float, seed: int | str = 0) -> RateFunction:
    """The asked rate (tasks/s) at ``t`` seconds since the start, for a base rate of ``base_rate``."""
    if isinstance(shape, Ramp):
        def ramp(t: float) -> float:
            frac = min(1.0, max(0.0, t / shape.ramp_s))
            return base_rate * (shape.from_factor + (shape.to_factor - shape.from_factor) * frac)
        return ramp
    if isinstance(shape, Surge):
        def surge(t: float) -> float:
            inside = shape.start_s <= t < shape.start_s + shape.duration_s
            return base_rate * (shape.factor if inside else 1.0)
        return surge
    if isinstance(shape, Diurnal):
        def diurnal(t: float) -> float:
            return base_rate * (1.0 + shape.amplitude * math.sin(2 * math.pi * t / shape.period_s - math.pi / 2))
        return diurnal
    if isinstance(shape, Bursty):
        bursts = _Bursts(shape, seed)

        def bursty(t: float) -> float:
            return base_rate * (shape.burst_factor if bursts.inside(t) else 1.0)
        return bursty
    return lambda _t: base_rate


def arrival_times(rate: RateFunction, peak_rate: float, rng: random.Random, start: float = 0.0) -> Iterator[float]:
    """Arrival times (seconds since the start) of a Poisson process of intensity ``rate``, by thinning.

    ``peak_rate`` must bound ``rate`` from above; a rate of 0 yields nothing until the rate rises again.
    """
    if peak_rate <= 0:
        return
    t = start
    while True:
        t += rng.expovariate(peak_rate)
        if rng.random() * peak_rate < rate(t):
            yield t


def expected_count(rate: RateFunction, start: float, end: float, step_s: float = 0.01) -> float:
    """The integral of ``rate`` over ``[start, end)`` (midpoint rule): how many arrivals a window asks."""
    n = max(1, math.ceil((end - start) / step_s))
    width = (end - start) / n
    return sum(rate(start + (i + 0.5) * width) for i in range(n)) * width
