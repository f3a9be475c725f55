"""Step 1: decode what arrived into messages (foreign formats per the job's config)."""

from __future__ import annotations

import base64

import apache_beam as beam

from cadenza.core import DecodePolicy, MessageDecodeError, NotAnUploadEvent, decode
from cadenza.runtime.lifecycle._step import Step, count
from cadenza.runtime.lifecycle.records import DEAD_LETTER, DeadLetter


def event_parts(event) -> tuple[bytes, dict | None]:
    """(data, attributes) of an event: bytes, a (bytes, attributes) pair, or a Pub/Sub
    message (anything with `.data` and `.attributes`)."""
    if isinstance(event, tuple):
        return event
    if hasattr(event, "data") and hasattr(event, "attributes"):
        return event.data, dict(event.attributes or {})
    return event, None


def received(event, data: bytes, attributes: dict | None) -> dict | None:
    """A Pub/Sub message as it arrived (data as base64, attributes, its id when known),
    for its dead letter: saved notifications often have no data, only attributes. None
    for bare bytes, which the record's `message` holds whole."""
    if attributes is None:
        return None
    return {
        "message_id": getattr(event, "message_id", None) or "",
        "data": base64.b64encode(bytes(data)).decode(),
        "attributes": dict(attributes),
    }


class _DecodeFn(beam.DoFn):
    def __init__(self, job: str, policy: DecodePolicy):
        self._job, self._policy = job, policy

    def process(self, event):
        data, attributes = event_parts(event)
        try:
            message = decode(data, attributes, self._policy)
        except NotAnUploadEvent:
            count(self._job, "ignored_storage_events")  # deletes and the like: nothing to do
            return
        except MessageDecodeError as err:
            count(self._job, "dead_letter_decode")
            record = DeadLetter(
                job=self._job,
                stage="decode",
                reason=str(err),
                message=bytes(data),
                received=received(event, data, attributes),
            )
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, record)
            return
        count(self._job, "received")
        yield message


class DecodeMessages(Step):
    """bytes, (bytes, Pub/Sub attributes) or a Pub/Sub message -> Message; undecodable
    input is dead-lettered."""

    step_label, stage = "Decode", "decode"

    def __init__(self, job: str, policy: DecodePolicy):
        super().__init__()
        self.job, self._policy = job, policy

    def step_fn(self):
        return _DecodeFn(self.job, self._policy)
