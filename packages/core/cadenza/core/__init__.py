"""Cadenza's shared vocabulary: the message protocol, the job config and the DAG model."""

__version__ = "0.1.0"

__all__ = ["__version__"]
