"""Step 9: the message a job publishes for its children, encoded for the event outputs."""

from __future__ import annotations

import apache_beam as beam

from cadenza.core import Message, Recipients, encode


def message_for_children(job: str, message: Message) -> Message:
    """A new message id on the same trace. When this job was the bottom-up target
    (`trigger_children_of`), its children run as in top-down mode."""
    recipients = message.recipients
    if recipients.limited and recipients.trigger_children_of == job:
        recipients = Recipients.anyone()
    return message.child(recipients=recipients)


class EncodeForChildren(beam.PTransform):
    """Finished messages -> the bytes to publish on the job's event outputs."""

    def __init__(self, job: str):
        super().__init__()
        self._job = job

    def expand(self, messages):
        job = self._job
        return messages | "ForChildren" >> beam.Map(lambda m: encode(message_for_children(job, m)))
