"""``python -m dashboards.streamlit_child PARENT_PID ARGS...``: Streamlit's command line, dying with its parent.

Takes the parent-death signal and starts the parent watch (core/procguard.py) first, then runs ``streamlit ARGS``
in this same process, so the guard covers the server itself (dashboards/server.py starts it).
"""

from __future__ import annotations

import signal
import sys

from streamlit.web import cli as streamlit_cli

from core.procguard import die_with_parent

__all__ = ["main"]


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or not args[0].isdigit():
        raise SystemExit("usage: python -m dashboards.streamlit_child PARENT_PID STREAMLIT_ARGS...")
    die_with_parent(int(args[0]), signal.SIGKILL)
    sys.argv = ["streamlit", *args[1:]]
    streamlit_cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main()
