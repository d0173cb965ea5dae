"""Aftershock: measure how agent deployments degrade and recover under chaos.

The roof of the layers: the command line and the runner. Nothing in the project imports this package;
Chaos Toolkit does, because it maps the distribution ``aftershock`` to it for ``chaos discover``.
"""

__all__ = ["__version__", "discover"]
__version__ = "0.1.0"


def discover(discover_system: bool = True) -> dict:
    """Chaos Toolkit maps the distribution ``aftershock`` to this package: hand over to the extension."""
    # Imported here, not at the top: importing this package must stay instant, because `aftershock stop --all`
    # writes the stop file before anything else loads (aftershock/entry.py).
    from chaos import discover as extension_discover

    return extension_discover(discover_system)
