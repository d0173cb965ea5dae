"""The analysis' one exception: the project's ``AnalysisError`` (a ``UserError``), re-exported here so
the analysis package reads on its own; the CLI reports it in one line."""

from __future__ import annotations

from core.errors import AnalysisError

__all__ = ["AnalysisError"]
