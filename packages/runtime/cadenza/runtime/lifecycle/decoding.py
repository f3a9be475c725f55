"""Step 1: decode what arrived into messages (foreign formats per the job's config)."""

from __future__ import annotations

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
            yield beam.pvalue.TaggedOutput(
                DEAD_LETTER,
                DeadLetter(job=self._job, stage="decode", reason=str(err), message=bytes(data)),
            )
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
