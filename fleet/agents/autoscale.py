"""The autoscaler's decision, after Kubernetes' HorizontalPodAutoscaler, kept pure so it is tested on a virtual clock.

Each decision period the orchestrator (a hub over its agents; a mesh's leader over the peers it hears from) feeds
one observation: how many agents serve now and the signal (tasks running + queued over slots). The raw
recommendation is HPA's ``ceil(agents x signal / target)`` (unchanged inside the tolerance band), clamped to the
policy's bounds. It is stabilised as HPA does: scale up to the *smallest* recommendation of the last
``scale_up_delay_s``, down to the *largest* of the last ``scale_down_delay_s``, so one busy second scales nothing
and a single quiet one removes nothing. A decision needs a full window of observations, and after an action the
window starts again (the new nodes' load is not known yet: HPA ignores unready pods the same way).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from fleet.topology import Autoscale

__all__ = ["Decision", "Autoscaler", "DemandMeter"]


@dataclass
class DemandMeter:
    """The part of the demand a saturated deployment turns away. Running tasks cannot exceed the slots, so a node
    that sheds reads as "100 % busy" however much it sheds; the meter adds the shed tasks back, as the slots they
    would have occupied (Little's law: shed per second x the mean task time), so the signal keeps rising with the
    demand. ``window_s``: how far back sheds count; the mean task time is an EWMA of served tasks."""

    window_s: float = 1.0
    mean_task_s: float = 0.1
    _shed: deque[float] = field(default_factory=deque)

    def shed(self, now: float) -> None:
        self._shed.append(now)

    def served(self, duration_s: float) -> None:
        self.mean_task_s += 0.05 * (max(0.0, duration_s) - self.mean_task_s)

    def shed_slots(self, now: float) -> float:
        """Slots the recently shed tasks would occupy."""
        while self._shed and self._shed[0] < now - self.window_s:
            self._shed.popleft()
        return len(self._shed) / self.window_s * self.mean_task_s


@dataclass(frozen=True)
class Decision:
    """Add (``nodes`` > 0) or remove (< 0) whole nodes; ``to_agents`` is what the recommendation asked for."""

    nodes: int
    from_agents: int
    to_agents: int
    signal: float
    at: float


@dataclass
class Autoscaler:
    policy: Autoscale
    agents_per_node: int
    history: deque[tuple[float, int]] = field(default_factory=deque)
    since: float | None = None  # when the current window of observations began

    def recommend(self, agents: int, signal: float) -> int:
        """HPA's raw recommendation, in agents, within the policy's bounds."""
        p = self.policy
        if agents <= 0:
            desired = p.min_agents
        elif abs(signal / p.target - 1) <= p.tolerance:
            desired = agents
        else:
            desired = math.ceil(agents * signal / p.target - 1e-9)
        return max(p.min_agents, min(p.max_agents, desired))

    def observe(self, now: float, agents: int, signal: float) -> Decision | None:
        """One observation; a decision when the stabilised recommendation differs from ``agents`` by a node."""
        p = self.policy
        if self.since is None:
            self.since = now
        self.history.append((now, self.recommend(agents, signal)))
        keep = max(p.scale_up_delay_s, p.scale_down_delay_s)
        while self.history and self.history[0][0] < now - keep:
            self.history.popleft()
        up = self._window(now, p.scale_up_delay_s, min)
        down = self._window(now, p.scale_down_delay_s, max)
        per = self.agents_per_node
        if up is not None and up > agents:
            nodes = min(p.max_step_nodes, math.ceil((up - agents) / per))
            nodes = min(nodes, (p.max_agents - agents) // per)  # the quota counts whole nodes
        elif down is not None and down <= agents - per:
            nodes = -min(p.max_step_nodes, (agents - down) // per)
        else:
            return None
        if nodes == 0:
            return None
        self.reset()
        return Decision(nodes, agents, up if nodes > 0 else down, round(signal, 4), now)  # type: ignore[arg-type]

    def _window(self, now: float, span: float, pick) -> int | None:
        """``pick`` (min or max) of the recommendations of the last ``span`` seconds; None until ``span`` is seen."""
        assert self.since is not None
        if now - self.since < span:
            return None
        return pick(r for t, r in self.history if t >= now - span)

    def reset(self) -> None:
        """Forget the window: the next decision needs ``delay`` seconds of new observations."""
        self.history.clear()
        self.since = None
