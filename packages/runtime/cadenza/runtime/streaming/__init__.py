"""Streaming: a job's Pub/Sub event inputs on the local runner, acknowledged after output.

`run_streaming(config, logic)` starts the pipeline and returns a `StreamingRun`. Each
message is acknowledged only once its outcome is durable: outputs written, the
event for the children published (or the dead letter recorded). See run.py for the
pipeline, settle.py for the exactly-once reasoning, _direct_pubsub.py for the Beam
internals the read relies on.
"""

from cadenza.runtime.streaming.run import (
    DEFAULT_TIMEOUT_S,
    StreamingRun,
    StreamJob,
    run_streaming,
)
from cadenza.runtime.streaming.topology import StreamingSetupError

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "StreamJob",
    "StreamingRun",
    "StreamingSetupError",
    "run_streaming",
]
