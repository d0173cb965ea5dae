"""One module per page, each with ``render(config)``; ``app.py`` wires them into ``st.navigation``."""

__all__: list[str] = []
