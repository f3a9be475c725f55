"""Cadenza's audio helpers.

Decoding, spectral features and fingerprinting, as numpy functions and Beam transforms.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
