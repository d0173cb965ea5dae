"""The lab's fork server (fleet/agents/zygote.py): children are forked by it, each still its own OS process named
after its role and node; a SIGKILL of a child is reported with its exit code as a waitpid would; killing the fork
server takes its children with it (nothing outlives its parent) and the lab can be healed through a new one."""

from __future__ import annotations

import os
import signal

import psutil
import pytest

from core.wait import wait_until
from fleet.lab import ControlClient, lab_status
from fleet.presets import LabOptions
from tests.support.labutil import alive, events

pytestmark = pytest.mark.lab


def test_children_are_forked_named_and_their_exit_codes_reported(lab, settings) -> None:
    status = lab("decentralized")
    zygote = status["fork_server_pid"]
    assert zygote and psutil.Process(zygote).ppid() == status["pid"]
    node = status["nodes"][0]
    proc = psutil.Process(node["pid"])
    assert proc.ppid() == zygote and proc.name() == f"node {node['name']}"[:15]
    os.kill(node["pid"], signal.SIGKILL)

    def reported() -> list[dict]:
        return [e for e in events(status["event_log"], "node_killed") if e["node"] == node["name"]]

    killed = wait_until(reported, 10, what="the unexpected exit to be reported")
    assert killed[0]["detail"]["unexpected"] is True and killed[0]["detail"]["returncode"] == -signal.SIGKILL


def test_killing_the_fork_server_takes_its_children_and_a_new_one_heals_the_lab(lab, settings) -> None:
    status = lab("decentralized")
    children = [n["pid"] for n in status["nodes"]] + [status["clients"]["pid"]]
    os.kill(status["fork_server_pid"], signal.SIGKILL)
    wait_until(lambda: not alive(children), 5, what="every child of the fork server to die with it")
    client = ControlClient.for_lab(status)
    victim = status["nodes"][0]["name"]
    wait_until(lambda: lab_status(settings, status["name"])["nodes"][0]["status"] == "killed", 10,
               what="the supervisor to see the node gone")
    client.restart_node(victim)
    again = lab_status(settings, status["name"])
    restarted = next(n for n in again["nodes"] if n["name"] == victim)
    assert restarted["status"] == "running" and restarted["pid"] not in children
    assert psutil.Process(restarted["pid"]).ppid() == again["fork_server_pid"] != status["fork_server_pid"]


def test_exec_spawn_still_starts_every_child_itself(lab) -> None:
    status = lab("decentralized", options=LabOptions(spawn="exec"))
    assert status["fork_server_pid"] is None
    assert all(psutil.Process(n["pid"]).ppid() == status["pid"] for n in status["nodes"])
