"""The run and comparison records the store hands out: typed, with the facts derived once.

Why typed: these records cross into the analysis adapter, the runner, the dashboard and the reports. As dicts
they already shipped a bug (the Live page read a run's lab from ``settings["lab"]`` while the runner and the
recording control write it to ``meta["lab"]``). Here the lab name and the time origin are derived in one place
(:attr:`RunRecord.lab`, :attr:`RunRecord.t0`).

Read-only mapping access (``run["status"]``, ``run.get("meta")``) stays for code that handles the record as
the JSON it becomes at the edges (``aftershock show --json``, the reports' JSON); new code uses attributes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = ["RunRecord", "ComparisonRecord"]


class _MappingView(Mapping[str, Any]):
    """Mapping access to a dataclass's fields (for JSON-shaped readers)."""

    def __getitem__(self, key: str) -> Any:
        if key in self._keys():
            return getattr(self, key)
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys())

    def __len__(self) -> int:
        return len(self._keys())

    @classmethod
    def _keys(cls) -> tuple[str, ...]:
        return tuple(f.name for f in fields(cls))  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]


@dataclass(frozen=True, eq=False)
class RunRecord(_MappingView):
    """One run of one topology (one repeat) as stored."""

    run_id: str
    comparison_id: str | None
    experiment: str
    topology: str
    repeat: int
    status: str
    started_at: float | None
    ended_at: float | None
    injected_at: float | None
    settings: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    writer_pid: int | None = None
    writer_host: str | None = None
    request_log: str | None = None

    @property
    def lab(self) -> str | None:
        """The lab (or target) the run acted on: the runner and the recording control write it to ``meta``."""
        return self.meta.get("lab") or self.settings.get("lab") or None

    @property
    def t0(self) -> float:
        """Time origin of the run's curves: the injection, or the start when nothing was injected (yet)."""
        return float(self.injected_at or self.started_at or 0.0)

    @property
    def finished(self) -> bool:
        return self.status != "running"


@dataclass(frozen=True, eq=False)
class ComparisonRecord(_MappingView):
    """A comparison (or sweep) with its runs ordered by topology and repeat."""

    comparison_id: str
    experiment: str
    kind: str
    title: str
    created_at: float
    meta: dict[str, Any] = field(default_factory=dict)
    runs: list[RunRecord] = field(default_factory=list)
