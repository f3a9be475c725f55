"""Step 1: decode what arrived into messages (foreign formats per the job's config).

A batch run hands its element ids over as they are (`str`): the step makes each its
message, with an id derived from the run's `ids_key` and the element, so that a
bundle the runner retries makes the same messages again (a fresh random id per
attempt would count a retried element twice). Ids are small in the pipeline's graph,
where encoded messages are several times their size.
"""

from __future__ import annotations

import base64
import hashlib

import apache_beam as beam

from cadenza.core import DecodePolicy, Message, MessageDecodeError, NotAnUploadEvent, decode
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


def message_for_id(element: str, ids_key: str) -> Message:
    """The message for element id `element` in the batch run keyed `ids_key`: its id
    (and trace id) a digest of both, the same whenever it is made again."""
    digest = hashlib.blake2b(f"{ids_key}\0{element}".encode(), digest_size=16).hexdigest()
    return Message(element=element, message_id=digest, trace_id=digest)


class _DecodeFn(beam.DoFn):
    def __init__(self, job: str, policy: DecodePolicy, ids_key: str | None):
        self._job, self._policy, self._ids_key = job, policy, ids_key

    def process(self, event):
        if isinstance(event, str) and self._ids_key is not None:
            yield from self._from_id(event)
            return
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

    def _from_id(self, element: str):
        try:
            message = message_for_id(element, self._ids_key)
        except ValueError as err:  # empty, or longer than a message allows
            count(self._job, "dead_letter_decode")
            shown = element if len(element) <= 80 else element[:80] + "..."
            record = DeadLetter(
                job=self._job,
                stage="decode",
                reason=f"element id {shown!r} cannot be a message's element: {err}",
                message=element.encode(),
            )
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, record)
            return
        count(self._job, "received")
        yield message


class DecodeMessages(Step):
    """bytes, (bytes, Pub/Sub attributes) or a Pub/Sub message -> Message; undecodable
    input is dead-lettered. With `ids_key` (batch runs), a `str` is an element id: see
    the module docstring."""

    step_label, stage = "Decode", "decode"

    def __init__(self, job: str, policy: DecodePolicy, ids_key: str | None = None):
        super().__init__()
        self.job, self._policy, self._ids_key = job, policy, ids_key

    def step_fn(self):
        return _DecodeFn(self.job, self._policy, self._ids_key)
