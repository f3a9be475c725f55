"""The last streaming step: make each message's outcome durable, then acknowledge it.

Every pulled message ends here exactly once per delivery, with its outcome:

- `publish`: its outputs are written (the lifecycle's write step ran before); the
  message for the children is published to every output topic and the publish
  futures are awaited; a ledger entry records that; then the message is acked.
- `finished`: nothing to publish (not a recipient, an ignored storage event): acked.
- `dead_letter`: the record, with the message as received, is written to the
  dead-letter folder and/or published to the dead-letter topic; then acked.
- `request`: its input is missing and it is bottom-up: the request is published to
  each parent's input topic (lifecycle/bottom_up.py); then acked.

If any of that fails, the message is nacked and Pub/Sub redelivers it: a message is
acked only once its outcome is durable, and never dropped.

Exactly once, across crashes and redeliveries: outputs are created with a
does-not-exist precondition (storage.py), so a redelivered message never writes a
second object (and a message whose outputs exist skips its work). Events: before
publishing, the settle step looks for the message's ledger entry
(`<ledger>/<receipt key>.event.json`, written create-only after the publish was
confirmed); if it is there the event went out already and the message is only acked.
So an event is published again only if the process died in the few milliseconds
between Pub/Sub confirming the publish and the ledger write; that event then carries
the same `cadenza_message_id` attribute (derived from the input message), which
children can use to drop it.
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import logging
import threading

import apache_beam as beam
import attrs
from apache_beam.io.filesystems import FileSystems

from cadenza.core import Message, encode
from cadenza.runtime.deadletters import (
    PUBLISH_TIMEOUT_S,
    publish_dead_letter,
    shared_publisher,
    write_dead_letter,
)
from cadenza.runtime.lifecycle._step import Routed, count
from cadenza.runtime.lifecycle.bottom_up import ParentRequest
from cadenza.runtime.lifecycle.publishing import message_for_children
from cadenza.runtime.lifecycle.records import DEAD_LETTER, PUBLISH, REQUEST, DeadLetter
from cadenza.runtime.storage import write_atomically
from cadenza.runtime.streaming.leases import leases_for
from cadenza.runtime.streaming.receipts import Receipt

LOGGER = logging.getLogger("cadenza.streaming")

# Settled messages per (job, outcome) in this process. Beam's counters are kept too,
# but the bundle-based DirectRunner reports only each step's first bundle of them.
_tally: collections.Counter = collections.Counter()
_tally_lock = threading.Lock()


def _note(job: str, what: str) -> None:
    count(job, what)
    with _tally_lock:
        _tally[job, what] += 1


def tally(job: str) -> dict[str, int]:
    """{outcome: messages} settled (or given back) by `job` in this process."""
    with _tally_lock:
        return dict(sorted((what, n) for (j, what), n in _tally.items() if j == job))


@attrs.frozen
class Settlement:
    """A message's outcome (the lifecycle's tags): PUBLISH a Message, FINISHED (a
    Message or None: nothing to publish), DEAD_LETTER a DeadLetter, or REQUEST a
    ParentRequest."""

    kind: str
    receipt: Receipt
    value: object = None


def settlement(routed: Routed) -> Settlement:
    """Routed(tag, Carried(receipt, value)) -> Settlement(tag, receipt, value)."""
    return Settlement(routed.tag, routed.value.token, routed.value.value)


@attrs.frozen(kw_only=True)
class Destinations:
    """Where outcomes go: the job's event topics, its dead letters, its ledger, and
    its parents' input topics (bottom-up requests)."""

    job: str
    topics: tuple[str, ...]
    ledger: str  # folder of ledger entries
    dead_letter_folder: str | None
    dead_letter_topic: str | None
    parent_topics: tuple[tuple[str, str], ...] = ()  # (parent, its input topic)


class _SettleFn(beam.DoFn):
    def __init__(self, destinations: Destinations):
        self._to = destinations

    def process(self, item: Settlement):
        receipt = item.receipt
        leases = leases_for(receipt.subscription)
        try:
            if item.kind == PUBLISH:
                self._publish_once(receipt, item.value)
            elif item.kind == DEAD_LETTER:
                self._dead_letter(receipt, item.value)
            elif item.kind == REQUEST:
                self._request_once(receipt, item.value)
            leases.ack(receipt.ack_id)
        except Exception as err:
            _note(self._to.job, "given_back")
            LOGGER.warning(
                "%s: message %s not settled, given back for redelivery: %s: %s",
                self._to.job,
                receipt.message_id,
                type(err).__name__,
                err,
            )
            try:
                leases.nack([receipt.ack_id])
            except Exception:  # its lease runs out and Pub/Sub redelivers it anyway
                LOGGER.warning("%s: nack of %s failed", self._to.job, receipt.message_id)
            return
        _note(self._to.job, item.kind)
        yield receipt.message_id

    def _ledger_entry(self, receipt: Receipt, what: str) -> str:
        return f"{self._to.ledger.rstrip('/')}/{receipt.key}.{what}.json"

    def _once(self, receipt: Receipt, what: str, publish) -> None:
        """Runs `publish` (returning a JSON-able record) unless the ledger says it ran."""
        entry = self._ledger_entry(receipt, what)
        if FileSystems.exists(entry):
            _note(self._to.job, f"{what}_already_published")
            return
        record = publish()
        record.update(
            message_id=receipt.message_id,
            subscription=receipt.subscription,
            at=dt.datetime.now(dt.UTC).isoformat(),
        )
        write_atomically(entry, json.dumps(record, sort_keys=True).encode(), overwrite=False)

    def _send(self, message: Message, topics) -> dict:
        """Publishes `message` to every topic and waits until Pub/Sub has them all."""
        data = encode(message)
        publisher = shared_publisher()
        futures = {
            topic: publisher.publish(
                topic,
                data,
                cadenza_message_id=message.message_id,
                cadenza_trace_id=message.trace_id,
                cadenza_job=self._to.job,
            )
            for topic in topics
        }
        ids = {topic: f.result(timeout=PUBLISH_TIMEOUT_S) for topic, f in futures.items()}
        return {"event": message.message_id, "published": ids}

    def _publish_once(self, receipt: Receipt, message: Message) -> None:
        child = message_for_children(self._to.job, message)
        self._once(receipt, "event", lambda: self._send(child, self._to.topics))

    def _request_once(self, receipt: Receipt, request: ParentRequest) -> None:
        known = dict(self._to.parent_topics)
        unknown = [p for p in request.parents if p not in known]
        if unknown:
            raise ValueError(f"no input topic known for parent(s) {', '.join(unknown)}")
        topics = [known[p] for p in request.parents]
        self._once(receipt, "request", lambda: self._send(request.message, topics))

    def _dead_letter(self, receipt: Receipt, record: DeadLetter) -> None:
        record = attrs.evolve(record, received=receipt.describe())
        if self._to.dead_letter_folder:
            write_dead_letter(self._to.dead_letter_folder, receipt.key, record)
        if self._to.dead_letter_topic:
            topic = self._to.dead_letter_topic

            def publish() -> dict:
                return {
                    "published": {topic: publish_dead_letter(shared_publisher(), topic, record)}
                }

            self._once(receipt, "dead_letter", publish)


class Settle(beam.PTransform):
    """Settlements -> the Pub/Sub ids of the messages acked (after their outcome is durable)."""

    def __init__(self, destinations: Destinations):
        super().__init__()
        self._to = destinations

    def expand(self, settlements):
        return settlements | "Settle" >> beam.ParDo(_SettleFn(self._to))
