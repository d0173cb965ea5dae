"""Aftershock: measure how agent deployments degrade and recover under chaos."""

__all__ = ["__version__"]
__version__ = "0.1.0"
