"""What a batch run records of each element, written by one DoFn at the pipeline's end.

`RecordResults` takes the lifecycle's routed results (`Routed(tag, value)`) and writes,
under the run's folder:

    outcomes/      what happened to each element: a JSON-lines file per bundle, each
                   line `{"key", "element", "outcome"[, "reason"]}`
    events/        the messages for the children, a JSON-lines file per bundle in the
                   saved Pub/Sub message format (`{"key", "data": <base64>}`)
    <dead-letter folder>/   each failure as its own JSON file, named after its message

and publishes each failure to the dead-letter topic when the config names one (best
effort: a publish that fails is counted, `dead_letter_topic_failures`, and logged; the
record stays in its file). A file
per bundle, not per element: a file costs more than its record. Files are named after
their records' keys and every line carries its key, so a bundle the runner retries
rewrites or repeats records that readers count once.
"""

from __future__ import annotations

import base64
import hashlib
import logging

import apache_beam as beam

from cadenza.core import Message, encode
from cadenza.runtime.deadletters import publish_dead_letter, shared_publisher
from cadenza.runtime.lifecycle import DeadLetter, Routed
from cadenza.runtime.lifecycle._step import count
from cadenza.runtime.lifecycle.publishing import message_for_children
from cadenza.runtime.lifecycle.records import DEAD_LETTER, FINISHED, PUBLISH, REQUEST
from cadenza.runtime.sorted_json import dumps_sorted
from cadenza.runtime.storage import write_atomically

LOGGER = logging.getLogger(__name__)
RECORD_BATCH = 500  # messages whose records are made together (a bounded wait in memory)


def message_key(message: Message) -> str:
    """The message's id; for a message without one, a digest of its encoding."""
    return message.message_id or "sha256:" + hashlib.sha256(encode(message)).hexdigest()


def dead_letter_key(record: DeadLetter) -> str:
    """The same for a retried bundle's record, different for two messages: what was
    received (attributes too: saved notifications may all have empty data)."""
    received = dumps_sorted(record.received) if record.received else ""
    return record.stage + ":" + record.message.hex() + ":" + received


def record_name(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:24]


def _dead_letter_line(key: str, record: DeadLetter) -> bytes:
    outcome = f"dead_letter:{record.stage}"
    line = {"key": key, "element": record.element, "outcome": outcome, "reason": record.reason}
    return dumps_sorted(line).encode()


def _message_line(key: str, message: Message, default: str) -> bytes:
    """The message's outcome: its last audit entry's (this job's), else `default`."""
    outcome = message.audit_log[-1].outcome.value if message.audit_log else default
    return dumps_sorted({"key": key, "element": message.element, "outcome": outcome}).encode()


class RecordResults(beam.DoFn):
    """Routed lifecycle results -> the run's records (see the module docstring); yields
    each record's key."""

    def __init__(self, job: str, folder: str, dead_letter_folder: str, dead_letter_topic=None):
        self._job, self._folder = job, folder.rstrip("/")
        self._dead_folder, self._topic = dead_letter_folder.rstrip("/"), dead_letter_topic
        self._outcomes: dict[str, bytes] | None = None
        self._events: dict[str, bytes] = {}
        self._messages: list[tuple[str, str, Message]] = []  # (key, tag, message)

    def start_bundle(self):
        self._outcomes, self._events, self._messages = {}, {}, []

    def process(self, routed: Routed):
        tag, item = routed.tag, routed.value
        if tag == DEAD_LETTER:
            key = dead_letter_key(item)
            path = f"{self._dead_folder}/{record_name(key)}.json"
            write_atomically(path, item.to_json().encode(), durable=False)
            if self._topic:
                self._publish(item, path)
            self._add("outcomes", key, _dead_letter_line(key, item))
        elif tag in (PUBLISH, FINISHED):
            key = message_key(item)
            if self._outcomes is None:  # a runner that did not start the bundle
                self._record_message(key, tag, item)
            else:  # recorded in batches (see _record_waiting)
                self._messages.append((key, tag, item))
                if len(self._messages) >= RECORD_BATCH:
                    self._record_waiting()
        elif tag == REQUEST:  # a request to the parents: only deployed jobs make them
            return
        else:
            raise ValueError(f"{self._job}: unexpected lifecycle result {tag!r}")
        yield key

    def _record_message(self, key: str, tag: str, message: Message) -> None:
        """Its outcome line and, published, its event line."""
        outcome = "published" if tag == PUBLISH else "finished"
        self._add("outcomes", key, _message_line(key, message, outcome))
        if tag == PUBLISH:
            data = encode(message_for_children(self._job, message))
            event_key = hashlib.sha256(data).hexdigest()
            line = {"key": event_key, "data": base64.b64encode(data).decode()}
            self._add("events", event_key, dumps_sorted(line).encode())

    def _publish(self, record: DeadLetter, path: str) -> None:
        """Best effort: the record is safe in its file; a failed publish is counted and
        logged, and the run goes on."""
        try:
            publish_dead_letter(shared_publisher(), self._topic, record)
        except Exception as err:
            count(self._job, "dead_letter_topic_failures")
            LOGGER.warning("%s: publishing %s to %s failed: %s", self._job, path, self._topic, err)

    def _add(self, kind: str, key: str, line: bytes) -> None:
        lines = self._outcomes if kind == "outcomes" else self._events
        if self._outcomes is None:  # a runner that did not start the bundle: one file each
            self._write(kind, {key: line})
        else:
            lines[key] = line

    def _record_waiting(self) -> None:
        """Records the messages waiting, together. Made one at a time, between each
        element's storage requests, the same lines cost about 3.5 times as much on the
        storage emulator (58 against 16 us per message, measured while this was
        written): the likeliest cause is the CPU's caches, which the requests leave
        cold for the code that follows them."""
        waiting, self._messages = self._messages, []
        for key, tag, message in waiting:
            self._record_message(key, tag, message)

    def finish_bundle(self):
        self._record_waiting()
        outcomes, events, self._outcomes, self._events = self._outcomes, self._events, None, {}
        for kind, lines in (("outcomes", outcomes), ("events", events)):
            if lines:
                self._write(kind, lines)

    def _write(self, kind: str, lines: dict[str, bytes]) -> None:
        name = record_name("\0".join(sorted(lines)))
        body = b"".join(lines[key] + b"\n" for key in sorted(lines))
        write_atomically(f"{self._folder}/{kind}/{name}.jsonl", body, durable=False)
