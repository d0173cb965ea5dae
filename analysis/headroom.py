"""Headroom: the smallest provisioned capacity that kept the SLO through the fault (``aftershock sweep --capacity``).

The same fault on each topology provisioned at several multiples F of its capacity, asked the same load, tells
what resilience costs: how much capacity beyond what the load needs a topology must pay for to come through a
fault without breaking its SLO.

**Kept the SLO through the fault** (one run): the availability during the fault's active window, from the request
log (ok requests / every request that ended inside the union of the fault's windows, a shed 429 counted
unavailable: ``metrics.availability_during_fault``, docs/analysis.md), is at least the SLO (``AnalysisParams.slo``,
0.999 by default). A run with no request in the window cannot say (None). One capacity kept it when **every** run
at that capacity with a figure did (an SLO is a promise for each incident, so one breach breaks it).

**The smallest capacity that kept it**: the smallest tested F that kept it *and every larger tested F kept it
too*, so a lucky low point between failing ones is not taken for the answer (such points are listed as
``non_monotonic``). When the largest tested F did not keep it, none did: the answer is ``None`` and the text says
which range was tested; no capacity is ever extrapolated.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

from analysis.errors import AnalysisError

__all__ = ["CapacityPoint", "Headroom", "slo_kept", "capacity_point", "smallest_capacity"]


def slo_kept(availability: float | None, slo: float) -> bool | None:
    """One run kept the SLO: availability during the fault >= SLO (None: no request in the window)."""
    if availability is None:
        return None
    return float(availability) >= slo


@dataclass(frozen=True)
class CapacityPoint:
    """The runs of one topology at one capacity factor."""

    factor: float
    agents: int
    runs: int  # runs with an availability figure
    kept_runs: int
    availability_min: float | None  # the worst run's availability during the fault
    availability_median: float | None
    requests: float | None  # requests in the fault window, summed over the runs
    kept: bool | None  # every run with a figure kept the SLO; None when none has a figure


def capacity_point(factor: float, agents: int, availabilities: Sequence[float | None], slo: float,
                   requests: Sequence[float | None] = ()) -> CapacityPoint:
    """Fold the runs at one capacity: how many kept the SLO, the worst availability, whether all kept it."""
    values = sorted(float(a) for a in availabilities if a is not None)
    kept_runs = sum(v >= slo for v in values)
    n = [float(r) for r in requests if r is not None]
    median = None
    if values:
        mid = len(values) // 2
        median = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
    return CapacityPoint(float(factor), int(agents), len(values), kept_runs, values[0] if values else None,
                         median, sum(n) if n else None, (kept_runs == len(values)) if values else None)


@dataclass(frozen=True)
class Headroom:
    """Per topology: the capacity curve and the smallest capacity that kept the SLO (None: none did)."""

    topology: str
    original_agents: int
    slo: float
    points: tuple[CapacityPoint, ...]
    min_factor: float | None
    min_agents: int | None
    min_multiple: float | None  # min_agents / original_agents (rounding makes it differ from min_factor)
    non_monotonic: tuple[float, ...]  # factors that kept it below a larger one that did not
    text: str

    def to_dict(self) -> dict:
        """Plain dict for the JSON summary."""
        return asdict(self) | {"points": [asdict(p) for p in self.points],
                               "non_monotonic": list(self.non_monotonic)}


def _pct(v: float) -> str:
    return f"{100 * v:.2f} %".replace(".00 %", " %")


def smallest_capacity(topology: str, points: Sequence[CapacityPoint], *, slo: float,
                      original_agents: int) -> Headroom:
    """The smallest tested capacity from which every larger tested one kept the SLO (module docstring)."""
    if not 0 < slo < 1:
        raise AnalysisError(f"slo must be in (0, 1), got {slo}")
    pts = tuple(sorted(points, key=lambda p: p.factor))
    known = [p for p in pts if p.kept is not None]
    tested = f"{pts[0].factor:g}..{pts[-1].factor:g}" if pts else "none"
    slo_words = f"the SLO ({_pct(slo)} availability during the fault)"
    if not known:
        return Headroom(topology, original_agents, slo, pts, None, None, None, (),
                        f"{topology}: no run at {tested} had requests in its fault window: cannot say")
    best: CapacityPoint | None = None
    for p in reversed(known):  # from the largest down, while each kept it
        if not p.kept:
            break
        best = p
    below = tuple(p.factor for p in known if p.kept and (best is None or p.factor < best.factor))
    if best is None:
        if below:  # some kept it, but not the largest: no capacity is known to keep it from there up
            kept = ", ".join(f"{f:g}x" for f in below)
            text = (f"{topology}: the largest tested capacity ({known[-1].factor:g}x) did not keep {slo_words}, so no "
                    f"capacity in {tested} is known to keep it; {kept} kept it (noise? repeat with --repeat 2)")
        else:
            top = max(known, key=lambda p: p.availability_min if p.availability_min is not None else -1.0)
            detail = (f"; the best was {_pct(top.availability_min)} at {top.factor:g}x"
                      if top.availability_min is not None else "")
            text = f"{topology}: none of {tested} kept {slo_words}{detail}"
        return Headroom(topology, original_agents, slo, pts, None, None, None, below, text)
    multiple = best.agents / original_agents if original_agents else None
    text = (f"{topology}: kept {slo_words} from {best.factor:g}x: {best.agents} agents "
            f"({original_agents} originally)")
    if best.factor == pts[0].factor:
        text += f"; even the smallest tested ({tested}) kept it, so less may do"
    if below:
        text += f"; {', '.join(f'{f:g}x' for f in below)} kept it too but a larger capacity did not (noise?)"
    return Headroom(topology, original_agents, slo, pts, best.factor, best.agents, multiple, below, text)
