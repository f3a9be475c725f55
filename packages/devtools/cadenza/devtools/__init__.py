"""Cadenza's developer tools: the `cadenza` command line, the local stack, graphs and images."""

__version__ = "0.1.0"

__all__ = ["__version__"]
