"""Aftershock: measure how agent deployments degrade and recover under chaos."""

__all__ = ["__version__", "discover"]
__version__ = "0.1.0"


def discover(discover_system: bool = True) -> dict:
    """Chaos Toolkit maps the distribution ``aftershock`` to this package: hand over to the extension."""
    from chaos import discover as _discover

    return _discover(discover_system)
