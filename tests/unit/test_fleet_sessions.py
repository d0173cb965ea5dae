"""Session memory (``fleet.agents.sessions``) as the decentralized nodes run it: rendezvous placement, one
copy per region while regions last, batched asynchronous replication over the in-memory network."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fleet.agents.memnet import MemoryNetwork, run_virtual
from fleet.agents.sessions import advance, holders, new_memory
from fleet.topology import load_topology
from tests.support.memlab import build_hosts, link_table

TOPO = load_topology("decentralized")


@dataclass(frozen=True)
class _M:
    name: str
    region: str
    url: str = ""


@given(
    sid=st.text(min_size=1, max_size=12),
    per_region=st.lists(st.integers(min_value=0, max_value=4), min_size=1, max_size=5),
    count=st.integers(min_value=1, max_value=6),
)
def test_holders_spread_over_regions_before_doubling_up(sid: str, per_region: list[int], count: int) -> None:
    members = [_M(f"r{r}-n{i}", f"r{r}") for r, n in enumerate(per_region) for i in range(n)]
    chosen = holders(sid, members, count)
    assert len(chosen) == min(count, len(members)) == len(set(chosen))
    regions = {m.region for m in members}
    assert len({m.region for m in chosen}) == min(len(chosen), len(regions))
    assert holders(sid, list(reversed(members)), count) == chosen  # placement does not depend on order


async def _write_then_lose_region(replication: int, sessions: int, cut_before_flush: bool) -> dict:
    net = MemoryNetwork(link_table(TOPO, 1))
    hosts = build_hosts(net, TOPO, replication=replication)
    names = sorted(hosts)
    written: dict[str, tuple[str, dict]] = {}
    for i in range(sessions):
        sid, writer = f"s{i:03d}", hosts[names[i % len(names)]]
        memory = advance(advance(new_memory(), "a"), "b")  # turn 2
        writer.save_session(sid, memory)
        written[sid] = (writer.name, memory)
    if cut_before_flush:
        net.links.set("us-east", "*", cut=True)
    for host in hosts.values():
        await host.replicator.flush()
    copies = {sid: {h.region for h in hosts.values() if h.sessions.get(sid) == mem}
              for sid, (_, mem) in written.items()}
    for host in hosts.values():  # us-east is lost, every process in it
        if host.region == "us-east":
            net.kill(host.swim.me.url)
    net.links.reset()
    reader = hosts["ap-south-n1"]
    found = {sid: (await reader.load_session(sid, expected_turn=2))["turn"] for sid in written}
    return {
        "written": {sid: hosts[w].region for sid, (w, _) in written.items()},
        "copies": copies,
        "found": found,
        "failed": sum(h.replicator.failed for h in hosts.values()),
    }


@pytest.mark.parametrize("replication", [1, 2])
def test_every_write_is_copied_to_r_other_regions_and_survives_the_loss_of_its_own(replication: int) -> None:
    out = run_virtual(_write_then_lose_region(replication, sessions=60, cut_before_flush=False))
    for sid, region in out["written"].items():
        assert len(out["copies"][sid] - {region}) >= replication, (sid, region, out["copies"][sid])
    assert out["failed"] == 0
    assert set(out["found"].values()) == {2}  # every memory found although us-east is gone


def test_writes_not_yet_replicated_when_their_region_is_cut_are_lost_with_it() -> None:
    """Replication is asynchronous (batched every 0.2 s): a region cut off before its batch leaves has the only
    copies of its last writes, and they are lost with it; the other regions' writes survive."""
    out = run_virtual(_write_then_lose_region(2, sessions=60, cut_before_flush=True))
    from_us_east = [sid for sid, region in out["written"].items() if region == "us-east"]
    assert from_us_east and out["failed"] >= len(from_us_east)
    lost = {sid for sid, turn in out["found"].items() if turn < 2}
    assert lost == {sid for sid in from_us_east if out["copies"][sid] <= {"us-east"}}
    assert lost, "a cut before the flush must lose some writes"
    assert all(out["found"][sid] == 2 for sid, region in out["written"].items() if region != "us-east")
