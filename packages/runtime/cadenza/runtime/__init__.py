"""Cadenza's runtime.

The message lifecycle as Apache Beam transforms, event I/O and runner profiles. A job
writes only its `JobLogic`; the runtime decodes, routes, checks, runs, writes,
publishes and dead-letters.
"""

from cadenza.runtime.api import ElementContext, InputHandle, JobLogic, Result
from cadenza.runtime.lifecycle import DeadLetter, Lifecycle

__version__ = "0.1.0"

__all__ = [
    "DeadLetter",
    "ElementContext",
    "InputHandle",
    "JobLogic",
    "Lifecycle",
    "Result",
    "__version__",
]
