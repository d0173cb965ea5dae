"""Aftershock: measure how agent deployments degrade and recover under chaos.

The roof of the layers: the command line and the runner. Nothing in the project imports this package;
Chaos Toolkit does, because it maps the distribution ``aftershock`` to it for ``chaos discover``.
"""

from chaos import discover as _discover

__all__ = ["__version__", "discover"]
__version__ = "0.1.0"


def discover(discover_system: bool = True) -> dict:
    """Chaos Toolkit maps the distribution ``aftershock`` to this package: hand over to the extension."""
    return _discover(discover_system)
