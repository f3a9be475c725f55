"""Which kinds of event a job's config lets it take: streamed (Pub/Sub, upload
notifications, a parent's output events once deployed in the DAG) or batch (listings,
files of ids or of saved messages)."""

from __future__ import annotations

from cadenza.core.config import GcsNotificationInput, JobConfig, PubSubInput

_STREAMED = (PubSubInput, GcsNotificationInput)


def is_streaming(config: JobConfig) -> bool:
    """True when the job has a streaming event input (Pub/Sub or upload notifications)."""
    return any(isinstance(i, _STREAMED) for i in config.events.inputs)


def has_batch_input(config: JobConfig) -> bool:
    """True when the job has an event input that batch runs read (a listing, a file of ids)."""
    return any(not isinstance(i, _STREAMED) for i in config.events.inputs)


def can_stream(config: JobConfig) -> bool:
    """True when the job has something to stream from once deployed in the DAG: a
    streaming event input, or a parent whose output events it reads."""
    return is_streaming(config) or bool(config.upstream)
