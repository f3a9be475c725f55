"""Cadenza's runtime.

The message lifecycle as Apache Beam transforms, event I/O and runner profiles.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
