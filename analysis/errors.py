"""The analysis' one exception, part of the project's tree so the CLI reports it in one line."""

from __future__ import annotations

from aftershock.errors import UserError

__all__ = ["AnalysisError"]


class AnalysisError(UserError):
    """The input cannot be analysed (missing column, unknown outcome, no baseline data).

    The message names the run or column at fault and what to do about it.
    """
