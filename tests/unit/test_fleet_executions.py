"""The agents' execution recorder writes the execution log that core.logs reads."""

from __future__ import annotations

from pathlib import Path

from core.logframes import read_execution_log
from core.logs import EXECUTION_COLUMNS, execution_log_writer
from fleet.agents.executions import ExecutionRecorder


def test_rows_of_several_nodes_append_to_one_log_under_one_header(tmp_path: Path) -> None:
    path = tmp_path / "executions.csv"
    execution_log_writer(path).close()  # the supervisor writes the header before any node starts
    a = ExecutionRecorder(path, node="us-east-n1", region="us-east")
    b = ExecutionRecorder(path, node="eu-west-n2", region="eu-west")
    a.record("s00001.1", "us-east-n1-a1", "s00001", 10.0, 10.5, True)
    b.record("s00002.2", "eu-west-n2-a3", "s00002", 11.0, 11.25, False)
    assert read_execution_log(path).empty  # buffered until a flush
    a.flush()
    b.close()
    a.record("s00001.3", "us-east-n1-a2", "s00001", 12.0, 12.1, True)
    a.close()
    frame = read_execution_log(path)
    assert path.read_text().count("task,agent") == 1
    assert list(frame.columns) == list(EXECUTION_COLUMNS)
    assert frame["task"].tolist() == ["s00001.1", "s00002.2", "s00001.3"]
    assert frame["session_write"].tolist() == [1, 0, 1]
    assert frame.loc[1, ["node", "region", "start", "end"]].tolist() == ["eu-west-n2", "eu-west", 11.0, 11.25]
    assert frame["queued_s"].tolist() == [0.0, 0.0, 0.0]


def test_a_queued_wait_is_recorded_and_a_log_older_than_the_column_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "executions.csv"
    rec = ExecutionRecorder(path, node="us-east-n1", region="us-east")
    rec.record("s1.1", "us-east-n1-a1", "s1", 10.0, 10.5, False, queued_s=0.25)
    rec.close()
    assert read_execution_log(path)["queued_s"].tolist() == [0.25]
    old = tmp_path / "old.csv"
    old.write_text("task,agent,node,region,start,end,session,session_write\ns1.1,a1,n1,us-east,10.0,10.5,s1,0\n")
    frame = read_execution_log(old)
    assert list(frame.columns) == list(EXECUTION_COLUMNS) and frame["queued_s"].isna().all()
