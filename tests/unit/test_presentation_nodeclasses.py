"""The Lab page's node table and map with node classes: each node's class, devices away by churn shown as away
(grey, in the legend only where there are any), not as dead."""

from __future__ import annotations

from presentation import figures, frames
from presentation.labmap import lab_caption

STATUS = {"regions": ["us"], "links": [],
          "nodes": [{"name": "us-n1", "region": "us", "role": "agent", "alive": True, "status": "running",
                     "class": "default", "agents": [{"alive": True}]},
                    {"name": "us-phone1", "region": "us", "role": "agent", "alive": False, "status": "away",
                     "class": "phone", "agents": [{"alive": False}]},
                    {"name": "us-phone2", "region": "us", "role": "agent", "alive": False, "status": "killed",
                     "class": "phone", "agents": [{"alive": False}]}]}


def test_the_node_table_shows_class_status_and_away() -> None:
    nodes = frames.nodes_frame(STATUS)
    assert nodes[["node", "class", "health", "status"]].values.tolist() == [
        ["us-n1", "default", "alive", "running"], ["us-phone1", "phone", "away", "away"],
        ["us-phone2", "phone", "dead", "killed"]]
    old = frames.nodes_frame({"nodes": [{"name": "x", "region": "us", "alive": True}]})  # before node classes
    assert old["class"].tolist() == ["default"]


def test_the_map_and_caption_tell_away_devices_from_dead_nodes() -> None:
    fig = figures.lab_figure(frames.nodes_frame(STATUS), frames.links_frame(STATUS))
    traces = {tr.name: tr for tr in fig.data if tr.name}
    assert set(traces) == {"alive", "paused", "dead", "away"} and traces["away"].text == ("phone1<br>0/1",)
    assert lab_caption(STATUS).startswith("1/3 nodes alive · 1 device(s) away (churn) · ")
    plain = {**STATUS, "nodes": STATUS["nodes"][:1]}
    assert {tr.name for tr in figures.lab_figure(frames.nodes_frame(plain), frames.links_frame(plain)).data
            if tr.name} == {"alive", "paused", "dead"}
    assert "away" not in lab_caption(plain)
