"""The last streaming step: make each message's outcome durable, then acknowledge it.

Every pulled message ends here exactly once per delivery, with its outcome:

- `publish`: its outputs are written (the lifecycle's write step ran before); the
  message for the children is published to every output topic and the publish
  futures are awaited; a ledger entry records that (if the ledger cannot be written,
  that is logged and counted, not retried: the event is out); then the message is acked.
- `finished`: nothing to publish (not a recipient, an ignored storage event): acked.
- `dead_letter`: the record, with the message as received, is written to the
  dead-letter folder and/or published to the dead-letter topic; then acked.
- `request`: its input is missing and it is bottom-up: the request is published to
  each parent's input topic (lifecycle/bottom_up.py); then acked.

If any of that fails, the message is given back and Pub/Sub redelivers it after a
backoff (1, 2, 4... s, at most GIVE_BACK_MAX_S): a message is acked only once its
outcome is durable, and never dropped. A message that fails to settle SETTLE_ATTEMPTS
times in this process (a topic that is gone, a record Pub/Sub refuses) is
dead-lettered instead, at stage `settle`, with the error and its earlier outcome, into
the dead-letter folder (the job's state folder when the config names only a topic),
and acked; if even that fails, it keeps coming back.

Exactly once, across crashes and redeliveries: outputs are created with a
does-not-exist precondition (storage.py), so a redelivered message never writes a
second object (and a message whose outputs exist skips its work). Events: before
publishing, the settle step looks for the message's ledger entry
(`<ledger>/<event id>.<receipt key>.event.json`, written create-only after the publish
was confirmed: cadenza.runtime.event_ledger); if it is there the event went out already
and the message is only acked. With several output topics, each confirmed topic also
gets its own entry (`....event.<topic digest>.json`), so a retry after one topic failed
publishes only to the topics not yet confirmed. A copy of a message sent again under
another Pub/Sub id, whose outputs the first wrote, finds the event's entry and is only
acked (lifecycle/existence.py). So an event is published again only if the process
died between Pub/Sub confirming the publish and the ledger write, or a publish Pub/Sub
took was reported as failed (a timeout); that event then carries the same
`cadenza_message_id` attribute (derived from the input message), which children can
use to drop it.
"""

from __future__ import annotations

import collections
import datetime as dt
import hashlib
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
from cadenza.runtime.event_ledger import entry_path
from cadenza.runtime.lifecycle._step import Routed, count
from cadenza.runtime.lifecycle.bottom_up import ParentRequest
from cadenza.runtime.lifecycle.publishing import message_for_children
from cadenza.runtime.lifecycle.records import DEAD_LETTER, PUBLISH, REQUEST, DeadLetter
from cadenza.runtime.storage import write_atomically
from cadenza.runtime.streaming.leases import leases_for
from cadenza.runtime.streaming.receipts import Receipt

LOGGER = logging.getLogger("cadenza.streaming")

SETTLE_ATTEMPTS = 5  # failures to settle one message (in this process) before it is dead-lettered
GIVE_BACK_MAX_S = 60  # the longest backoff before a message that failed to settle returns

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


class _Failures:
    """How many times each message (by receipt key) failed to settle in this process;
    the oldest are forgotten past `limit` (messages another process settled)."""

    def __init__(self, limit: int = 10_000):
        self._counts: collections.OrderedDict[str, int] = collections.OrderedDict()
        self._limit, self._lock = limit, threading.Lock()

    def add(self, key: str) -> int:
        with self._lock:
            self._counts[key] = self._counts.pop(key, 0) + 1
            while len(self._counts) > self._limit:
                self._counts.popitem(last=False)
            return self._counts[key]

    def get(self, key: str) -> int:
        with self._lock:
            return self._counts.get(key, 0)

    def forget(self, key: str) -> None:
        with self._lock:
            self._counts.pop(key, None)


_failures = _Failures()


def give_back_after_s(failures: int) -> int:
    """The backoff before a message that failed to settle `failures` times returns."""
    return min(2 ** max(failures - 1, 0), GIVE_BACK_MAX_S)


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
    # where a message that cannot be settled is dead-lettered when the config names
    # only a dead-letter topic (the job's state folder)
    fallback_dead_letter_folder: str | None = None


_DOING = {
    PUBLISH: "publishing its event",
    DEAD_LETTER: "dead-lettering it",
    REQUEST: "asking its parents for its input",
}


class _SettleFn(beam.DoFn):
    def __init__(self, destinations: Destinations):
        self._to = destinations

    def process(self, item: Settlement):
        receipt = item.receipt
        leases = leases_for(receipt.subscription)
        try:
            outcome = self._settle_or_give_up(item)
            leases.ack(receipt.ack_id)
        except Exception as err:
            self._give_back(leases, receipt, err)
            return
        _failures.forget(receipt.key)
        _note(self._to.job, outcome)
        yield receipt.message_id

    def _settle_or_give_up(self, item: Settlement) -> str:
        """Settles the message; returns its outcome. The SETTLE_ATTEMPTS-th failure
        dead-letters it instead (`dead_letter_settle`)."""
        try:
            if item.kind == PUBLISH:
                child = message_for_children(self._to.job, item.value)
                self._publish_once(item.receipt, "event", child, self._to.topics, child.message_id)
            elif item.kind == DEAD_LETTER:
                self._dead_letter(item.receipt, item.value)
            elif item.kind == REQUEST:
                self._request_once(item.receipt, item.value)
            return item.kind
        except Exception as err:
            failures = _failures.add(item.receipt.key)
            if failures < SETTLE_ATTEMPTS:
                raise
            self._give_up(item, err, failures)
            return "dead_letter_settle"

    def _give_back(self, leases, receipt: Receipt, err: Exception) -> None:
        after_s = give_back_after_s(_failures.get(receipt.key))
        _note(self._to.job, "given_back")
        LOGGER.warning(
            "%s: message %s not settled, given back for redelivery in %d s: %s: %s",
            self._to.job,
            receipt.message_id,
            after_s,
            type(err).__name__,
            err,
        )
        try:
            leases.give_back(receipt.ack_id, after_s)
        except Exception:  # its lease runs out and Pub/Sub redelivers it anyway
            LOGGER.warning("%s: giving back %s failed", self._to.job, receipt.message_id)

    def _give_up(self, item: Settlement, err: Exception, failures: int) -> None:
        """Dead-letters a message that could not be settled, in a folder (a topic may be
        what failed); raises if it cannot be written there either."""
        folder = self._to.dead_letter_folder or self._to.fallback_dead_letter_folder
        if folder is None:
            raise err
        job, value = self._to.job, item.value
        reason = (
            f"not settled after {failures} attempts ({_DOING.get(item.kind, item.kind)}): "
            f"{type(err).__name__}: {err}"
        )
        if isinstance(value, DeadLetter):
            reason += f"; dead-lettered at {value.stage} because: {value.reason}"
            record = attrs.evolve(value, stage="settle", reason=reason)
        else:
            message = value.message if isinstance(value, ParentRequest) else value
            record = DeadLetter.for_message(job, "settle", message, reason, err)
        record = attrs.evolve(record, received=item.receipt.describe())
        path = write_dead_letter(folder, item.receipt.key, record)
        LOGGER.error(
            "%s: message %s dead-lettered to %s: %s",
            job,
            _describe(item.receipt, record),
            path,
            reason,
        )
        if self._to.dead_letter_topic:  # best effort: the record is safe in the folder
            try:
                publish_dead_letter(shared_publisher(), self._to.dead_letter_topic, record)
            except Exception as topic_err:
                LOGGER.warning("%s: publishing %s failed: %s", job, path, topic_err)

    def _ledger_entry(self, receipt: Receipt, what: str, event_id: str = "") -> str:
        return entry_path(self._to.ledger, receipt.key, what, event_id)

    def _once(self, receipt: Receipt, what: str, publish) -> None:
        """Runs `publish` (returning a JSON-able record) unless the ledger says it ran."""
        entry = self._ledger_entry(receipt, what)
        if FileSystems.exists(entry):
            _note(self._to.job, f"{what}_already_published")
            return
        self._record(entry, receipt, publish())

    def _record(self, entry: str, receipt: Receipt, record: dict) -> None:
        record.update(
            message_id=receipt.message_id,
            subscription=receipt.subscription,
            at=dt.datetime.now(dt.UTC).isoformat(),
        )
        write_atomically(entry, json.dumps(record, sort_keys=True).encode(), overwrite=False)

    def _publish_once(
        self, receipt: Receipt, what: str, message: Message, topics, event_id: str = ""
    ) -> None:
        """Publishes `message` to every topic the ledger has not confirmed it on, waits
        until Pub/Sub has them, and records that (see the module docstring); an event's
        entries are named after its `event_id` too."""
        entry = self._ledger_entry(receipt, what, event_id)
        if FileSystems.exists(entry):
            _note(self._to.job, f"{what}_already_published")
            return
        per_topic = len(topics) > 1

        def topic_entry(topic: str) -> str:
            digest = hashlib.sha256(topic.encode()).hexdigest()[:16]
            return self._ledger_entry(receipt, f"{what}.{digest}", event_id)

        pending = [t for t in topics if not (per_topic and FileSystems.exists(topic_entry(t)))]
        data, publisher = encode(message), shared_publisher()
        futures = {
            topic: publisher.publish(
                topic,
                data,
                cadenza_message_id=message.message_id,
                cadenza_trace_id=message.trace_id,
                cadenza_job=self._to.job,
            )
            for topic in pending
        }
        published, failed = {}, []
        for topic, future in futures.items():
            try:
                published[topic] = future.result(timeout=PUBLISH_TIMEOUT_S)
            except Exception as err:
                failed.append(f"{topic}: {type(err).__name__}: {err}")
                continue
            if per_topic:
                record = {"published": {topic: published[topic]}}
                self._record_published(topic_entry(topic), receipt, record)
        if failed:
            raise RuntimeError("publishing failed on " + "; ".join(failed))
        record = {"event": message.message_id, "published": published}
        self._record_published(entry, receipt, record)

    def _record_published(self, entry: str, receipt: Receipt, record: dict) -> None:
        """Records a publish Pub/Sub confirmed. A ledger that cannot be written (a full
        disk) is logged and counted (`ledger_failures`), not retried: the event is in
        Pub/Sub already, and settling again would publish it again; only a redelivery
        of this message, now acked, could repeat it."""
        try:
            self._record(entry, receipt, record)
        except Exception as err:
            _note(self._to.job, "ledger_failures")
            LOGGER.warning(
                "%s: message %s published, but its ledger entry %s was not written "
                "(a redelivery would publish it again): %s: %s",
                self._to.job,
                receipt.message_id,
                entry,
                type(err).__name__,
                err,
            )

    def _request_once(self, receipt: Receipt, request: ParentRequest) -> None:
        known = dict(self._to.parent_topics)
        unknown = [p for p in request.parents if p not in known]
        if unknown:
            raise ValueError(f"no input topic known for parent(s) {', '.join(unknown)}")
        topics = [known[p] for p in request.parents]
        self._publish_once(receipt, "request", request.message, topics)

    def _dead_letter(self, receipt: Receipt, record: DeadLetter) -> None:
        record = attrs.evolve(record, received=receipt.describe())
        where = []
        if self._to.dead_letter_folder:
            where.append(write_dead_letter(self._to.dead_letter_folder, receipt.key, record))
        if self._to.dead_letter_topic:
            topic = self._to.dead_letter_topic

            def publish() -> dict:
                return {
                    "published": {topic: publish_dead_letter(shared_publisher(), topic, record)}
                }

            self._once(receipt, "dead_letter", publish)
            where.append(topic)
        LOGGER.warning(
            "%s: message %s dead-lettered at %s to %s: %s",
            self._to.job,
            _describe(receipt, record),
            record.stage,
            " and ".join(where),
            record.reason,
        )


def _describe(receipt: Receipt, record: DeadLetter) -> str:
    """The message as a log line names it: its Pub/Sub id, and its element if it has one."""
    if record.element is None:
        return receipt.message_id
    return f"{receipt.message_id} (element {record.element!r})"


class Settle(beam.PTransform):
    """Settlements -> the Pub/Sub ids of the messages acked (after their outcome is durable)."""

    def __init__(self, destinations: Destinations):
        super().__init__()
        self._to = destinations

    def expand(self, settlements):
        return settlements | "Settle" >> beam.ParDo(_SettleFn(self._to))
