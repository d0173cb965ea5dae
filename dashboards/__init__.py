"""The Streamlit dashboard: pages render, ``data`` loads, ``frames`` shapes, ``figures`` draws.

Nothing here reads the environment or the store at import time: ``app.py`` builds a
:class:`dashboards.config.DashboardConfig` once and passes it to every page.
"""

__all__: list[str] = []
