"""Dead-letter records: a failed message, where it failed and why. Nothing is dropped."""

from __future__ import annotations

import base64
import datetime as dt
import json
import traceback

import attrs

from cadenza.core import Message, encode

# Output tags shared by the lifecycle steps.
DEAD_LETTER = "dead_letter"
PUBLISH = "publish"  # finished, and its children should hear of it
FINISHED = "finished"  # finished, nothing to publish (not a recipient)
REQUEST = "request"  # its input is missing: ask the parents (a bottom_up.ParentRequest)


@attrs.frozen(kw_only=True)
class DeadLetter:
    """One failed message, with everything needed to understand and replay it."""

    job: str
    stage: str
    reason: str
    element: str | None = None
    trace_id: str | None = None
    message: bytes = b""  # the Cadenza encoding of the message, or the bytes received
    traceback: str = ""
    at: str = attrs.field(factory=lambda: dt.datetime.now(dt.UTC).isoformat())
    # the Pub/Sub message as received (streaming: subscription, message_id, data as
    # base64, attributes; a batch run's saved message: message_id, data, attributes),
    # so it can be replayed exactly
    received: dict | None = None

    @classmethod
    def for_message(cls, job: str, stage: str, message: Message, reason: str, error=None):
        return cls(
            job=job,
            stage=stage,
            reason=reason,
            element=message.element,
            trace_id=message.trace_id,
            message=encode(message),
            traceback=summarize_traceback(error) if error else "",
        )

    def to_json(self) -> str:
        record = attrs.asdict(self)
        record["message"] = base64.b64encode(self.message).decode()
        return json.dumps(record, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> DeadLetter:
        record = json.loads(text)
        record["message"] = base64.b64decode(record["message"])
        return cls(**record)


def summarize_traceback(error: BaseException, frames: int = 6) -> str:
    """The last frames of an exception's traceback and its message, for a record."""
    lines = traceback.format_exception(type(error), error, error.__traceback__, limit=-frames)
    return "".join(lines)[-4000:]
