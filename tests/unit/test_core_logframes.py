"""A log its writer has just created (no header yet) reads as no rows; a file that is not a log still fails."""

from __future__ import annotations

from pathlib import Path

import pytest

from core.errors import BadLogFile
from core.logframes import read_execution_log, read_request_log


def test_a_log_created_a_moment_ago_has_no_rows_yet(tmp_path: Path) -> None:
    for read in (read_request_log, read_execution_log):
        path = tmp_path / f"{read.__name__}.csv"
        path.touch()
        frame = read(path)
        assert frame.empty and list(frame.columns)


def test_a_file_without_the_header_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "requests.csv"
    path.write_text("\n")
    with pytest.raises(BadLogFile):
        read_request_log(path)
    path.write_text("a,b\n1,2\n")
    with pytest.raises(BadLogFile, match="lacks the columns"):
        read_request_log(path)
