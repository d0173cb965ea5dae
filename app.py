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
from dashboards.pages import audit, compare, history, lab, launch, live, run

st.set_page_config(page_title="Aftershock", page_icon=":material/earthquake:", layout="wide")
CONFIG = config_from_environ(os.environ)


def _page(module: ModuleType, title: str, url_path: str, icon: str, config: DashboardConfig,
          default: bool = False) -> st.Page:
    def render() -> None:
        module.render(config)

    render.__name__ = url_path
    page_fn: Callable[[], None] = render
    return st.Page(page_fn, title=title, url_path=url_path, icon=icon, default=default)


PAGES = [
    _page(compare, "Compare", "compare", ":material/compare_arrows:", CONFIG, default=True),
    _page(run, "Run", "run", ":material/timeline:", CONFIG),
    _page(live, "Live", "live", ":material/sensors:", CONFIG),
    _page(lab, "Lab", "lab", ":material/lan:", CONFIG),
    _page(launch, "Launch", "launch", ":material/rocket_launch:", CONFIG),
    _page(history, "History", "history", ":material/history:", CONFIG),
    _page(audit, "Audit", "audit", ":material/policy:", CONFIG),
]
navigation = st.navigation(PAGES)
stop.render(CONFIG)  # the emergency stop, in the sidebar of every page
navigation.run()
