"""Cadenza's shared vocabulary.

The message protocol, the job config and the DAG model. No Beam, no other Cadenza
package: everything else speaks this.
"""

from cadenza.core.config import (
    DataLocation,
    JobConfig,
    Profile,
    load_job_config,
    parse_job_config,
)
from cadenza.core.dag import Dag
from cadenza.core.decode import DecodePolicy, Format, decode
from cadenza.core.errors import (
    CadenzaError,
    ConfigError,
    DagError,
    MessageDecodeError,
    NotAnUploadEvent,
)
from cadenza.core.message import AuditEntry, GcsObject, Message, Outcome, Recipients
from cadenza.core.wire import encode
from cadenza.core.wiring import WiringPlan, plan_wiring

__version__ = "0.1.0"

__all__ = [
    "AuditEntry",
    "CadenzaError",
    "ConfigError",
    "Dag",
    "DagError",
    "DataLocation",
    "DecodePolicy",
    "Format",
    "GcsObject",
    "JobConfig",
    "Message",
    "MessageDecodeError",
    "NotAnUploadEvent",
    "Outcome",
    "Profile",
    "Recipients",
    "WiringPlan",
    "__version__",
    "decode",
    "encode",
    "load_job_config",
    "parse_job_config",
    "plan_wiring",
]
