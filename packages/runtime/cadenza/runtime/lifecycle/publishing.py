"""Step 9: the message a job publishes for its children, encoded for the event outputs."""

from __future__ import annotations

import hashlib
import uuid

import apache_beam as beam

from cadenza.core import Message, Recipients, encode
from cadenza.runtime.lifecycle._step import carried_map


def child_message_id(job: str, message: Message) -> str:
    """The id of the message `job` publishes for `message`: derived, not random, so a
    message published again after a crash carries the same id (an idempotency key).
    A message without an id gets a random one."""
    if not message.message_id:
        return uuid.uuid4().hex
    return hashlib.sha256(f"{job}\0{message.message_id}".encode()).hexdigest()[:32]


def message_for_children(job: str, message: Message) -> Message:
    """The message for the children: its own id (derived from this one), the same trace.
    When this job was the bottom-up target (`trigger_children_of`), its children run
    as in top-down mode."""
    message_id = child_message_id(job, message)
    recipients = message.recipients
    if recipients.limited and recipients.trigger_children_of == job:
        return message.child(message_id=message_id, recipients=Recipients.anyone())
    return message.child(message_id=message_id)


class EncodeForChildren(beam.PTransform):
    """Finished messages -> the bytes to publish on the job's event outputs."""

    def __init__(self, job: str):
        super().__init__()
        self._job = job

    def expand(self, messages):
        job = self._job
        encode_one = carried_map(lambda m: encode(message_for_children(job, m)))
        return messages | "ForChildren" >> beam.Map(encode_one)
