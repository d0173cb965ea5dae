"""Aftershock dashboard: the router. Reads its configuration once (the boundary) and wires the pages.

Run it with `aftershock dashboard` (binds 127.0.0.1) or `aftershock demo`; see docs/dashboard.md.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType

import streamlit as st

from dashboards import stop
from dashboards.config import DashboardConfig, config_from_environ
from dashboards.pages import audit, compare, history, lab, launch, live, overview, run

st.set_page_config(page_title="Aftershock", page_icon=":material/earthquake:", layout="wide")
CONFIG = config_from_environ(os.environ)


def _page(module: ModuleType, title: str, url_path: str, icon: str, config: DashboardConfig,
          default: bool = False) -> st.Page:
    def render() -> None:
        module.render(config)

    render.__name__ = url_path
    page_fn: Callable[[], None] = render
    return st.Page(page_fn, title=title, url_path=url_path, icon=icon, default=default)


PAGES = {
    "Results": [
        _page(overview, "Overview", "overview", ":material/grid_view:", CONFIG, default=True),
        _page(compare, "Compare topologies", "compare", ":material/compare_arrows:", CONFIG),
        _page(run, "Run detail", "run", ":material/timeline:", CONFIG),
        _page(history, "History and trends", "history", ":material/trending_up:", CONFIG),
    ],
    "Operate": [
        _page(live, "Live runs", "live", ":material/sensors:", CONFIG),
        _page(lab, "Labs", "lab", ":material/lan:", CONFIG),
        _page(launch, "Launch an experiment", "launch", ":material/rocket_launch:", CONFIG),
        _page(audit, "Audit log", "audit", ":material/policy:", CONFIG),
    ],
}
navigation = st.navigation(PAGES)
stop.render(CONFIG)  # the emergency stop, in the sidebar of every page
navigation.run()
