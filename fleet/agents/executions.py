"""The agents' side of the task ledger: one execution-log row per task an agent executed.

Rows go to the lab's one execution log (``core.logs`` owns the format) in batches, at least every
``FLUSH_S`` and at shutdown; each batch is one append, so the rows of many nodes never interleave. A row is
written when the work is done, whether or not its reply still reaches anyone: a client that timed out has an
*indeterminate* request, and this row says the task ran. A node killed by SIGKILL loses the rows of its last
``FLUSH_S`` at most (docs/contracts.md says so).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core.logs import CsvLogWriter, execution_log_writer

__all__ = ["ExecutionRecorder", "FLUSH_S"]

FLUSH_S = 0.25


class ExecutionRecorder:
    """Buffers execution rows and appends them to ``path``; ``clock`` stamps start and end (Unix seconds)."""

    def __init__(self, path: Path | str, *, node: str, region: str, clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.node, self.region = node, region
        self.clock = clock
        self._rows: list[list[Any]] = []
        self._writer: CsvLogWriter | None = execution_log_writer(self.path)
        self.recorded = 0

    def record(self, task: str, agent: str, session: str, start: float, end: float, session_write: bool,
               queued_s: float = 0.0) -> None:
        self._rows.append([task, agent, self.node, self.region, f"{start:.6f}", f"{end:.6f}", session,
                           int(session_write), f"{queued_s:.6f}"])
        self.recorded += 1

    def flush(self) -> None:
        if self._rows and self._writer is not None:
            rows, self._rows = self._rows, []
            self._writer.write_rows(rows)

    async def run(self) -> None:
        """Flush every ``FLUSH_S`` until cancelled."""
        while True:
            await asyncio.sleep(FLUSH_S)
            self.flush()

    def close(self) -> None:
        self.flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
