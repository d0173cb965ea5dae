"""Sessions lost against their bound: what the placement allows to be lost when these nodes die.

Why: "3 sessions lost" means little alone. With replication factor R and replicas spread over regions, the
sessions that *must* be lost when nodes die are those with every copy on a dead node; that share is the bound.
A measured loss above it is an excess with a cause (asynchronous replication that had not shipped the last write,
placement skew, a copy not found while it was alive), explained from the ledger: a lost write acknowledged within
one replication period of its holder's death is replication lag; any other excess loss is a copy not found.

The placement itself (which nodes hold a session) is the deployment's; the caller computes it (results/ does it
with the lab's own placement function) and passes it in, so this module stays pure.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["SessionBound", "sessions_lost_bound"]


@dataclass(frozen=True)
class SessionBound:
    """Bound and measurement over the *observed* sessions: written before the fault, answered after it."""

    observed: int
    bound_sessions: int
    bound_share: float | None
    lost_sessions: int
    lost_share: float | None
    excess: int
    excess_explained: dict[str, int]
    flagged: bool
    text: str
    dead_nodes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["dead_nodes"] = list(self.dead_nodes)
        return out


def sessions_lost_bound(
    placement: Mapping[str, Sequence[str]],
    dead: Mapping[str, float],
    lost: Iterable[str],
    *,
    last_write: Mapping[str, float] | None = None,
    replication_period_s: float = 0.2,
    tolerance: int = 0,
) -> SessionBound:
    """Compare the sessions that lost memory (``lost``) with those whose every copy died.

    ``placement``: observed session -> the nodes holding a copy when the fault struck; ``dead``: node -> when it
    died; ``last_write``: session -> when its last acknowledged write before the loss was made (for the lag
    explanation). Lost sessions outside ``placement`` are not observed and left out.
    """
    observed = set(placement)
    must = {s for s, copies in placement.items() if copies and all(c in dead for c in copies)}
    lost_obs = set(lost) & observed
    excess_sessions = lost_obs - must
    lag = 0
    for s in excess_sessions:
        written = (last_write or {}).get(s)
        deaths = [dead[c] for c in placement[s] if c in dead]
        if written is not None and any(0 <= t - written <= replication_period_s for t in deaths):
            lag += 1
    explained = {"replication_lag": lag, "copy_not_found": len(excess_sessions) - lag}
    n = len(observed)
    bound_share = len(must) / n if n else None
    lost_share = len(lost_obs) / n if n else None
    flagged = len(excess_sessions) > tolerance
    if not n:
        text = "no session was written before the fault and answered after it: nothing to compare"
    else:
        text = (f"{len(lost_obs)} of {n} sessions lost memory; the placement allows {len(must)} "
                f"(every copy on a dead node)")
        if flagged:
            parts = [f"{v} {k.replace('_', ' ')}" for k, v in explained.items() if v]
            text += f": {len(excess_sessions)} in excess ({', '.join(parts)})"
    return SessionBound(n, len(must), bound_share, len(lost_obs), lost_share, len(excess_sessions), explained,
                        flagged, text, tuple(sorted(dead)))
