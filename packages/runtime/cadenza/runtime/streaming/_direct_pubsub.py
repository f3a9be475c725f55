"""The local runner's Pub/Sub read, without Beam's acknowledge-on-read.

Beam's DirectRunner acknowledges each message as soon as it pulls it, so a crash loses
every message in work. `ReadLeased` is a drop-in read for the bundle-based DirectRunner
(`--streaming`) that pulls without acknowledging: each message is held in this
process's `Leases` (deadlines extended while in work) and its ack id travels with it
in the `ACK_ID_ATTRIBUTE` attribute, until the runtime acks it after its outcome is
durable (streaming/settle.py).

Each subscription is long-pulled by a `_Puller` thread of its own into a small queue;
the runner's evaluator only takes from that queue, waiting at most `TAKE_WAIT_S`. The
runner has one worker thread and evaluates its reads in turn, so a read that waited on
the server for the whole long pull (as this module first did) held up every other
read of the job for that long: 4-8 s per hop for a job reading two subscriptions.

BEAM INTERNALS this module relies on (apache-beam==2.77.0 is pinned in the lock;
tests/streaming_internals_test.py fails loudly if any of them changes):

- `apache_beam.runners.direct.direct_runner._DirectReadFromPubSub`: the DirectRunner's
  native Pub/Sub read transform (constructor `(source)`, stored as `_source`).
  `ReadLeased` subclasses it, so the runner treats it as a native root transform.
- `apache_beam.runners.direct.transform_evaluator._PubSubReadEvaluator`: its
  evaluator. Reused: the constructor (sets `self._sub_name` from
  `source.project`/`source.subscription_name`) and `finish_bundle()`, which calls
  `self._read_from_pubsub(source.timestamp_attribute)` for a list of
  `(Timestamp, PubsubMessage)` and emits them as one bundle (whole `PubsubMessage`s
  when `source.with_attributes`). `_read_from_pubsub` is the one method overridden.
- `TransformEvaluatorRegistry._test_evaluators_overrides`: the class-level table the
  registry merges over its defaults; it looks evaluators up along the transform's
  MRO, so registering `ReadLeased` leaves every other Pub/Sub read as Beam made it.
- `apache_beam.io.gcp.pubsub._PubSubSource(subscription=, with_attributes=)` and
  `PubsubMessage._from_message`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from apache_beam.io.gcp.pubsub import PubsubMessage, _PubSubSource
from apache_beam.pvalue import PCollection
from apache_beam.runners.direct.direct_runner import _DirectReadFromPubSub
from apache_beam.runners.direct.transform_evaluator import (
    TransformEvaluatorRegistry,
    _PubSubReadEvaluator,
)
from apache_beam.utils.timestamp import Timestamp

from cadenza.runtime.pubsub_clients import subscriber_client
from cadenza.runtime.streaming.leases import leases_for

LOGGER = logging.getLogger("cadenza.streaming")
ACK_ID_ATTRIBUTE = "cadenza.ack_id"
PULL_TIMEOUT_S = 2.0  # a long pull: the server answers as soon as a message arrives
TAKE_WAIT_S = 0.1  # how long the runner's evaluator waits for one subscription's queue
SLOW_MESSAGE_S = 0.1  # messages this slow (the bundle's cost included) go one per bundle


class ReadLeased(_DirectReadFromPubSub):
    """Reads `subscription` (a full path) as PubsubMessages carrying their ack id;
    acknowledging them is the pipeline's job. Bundle-based DirectRunner only."""

    def __init__(self, subscription: str, max_messages: int = 10):
        if max_messages < 1:
            raise ValueError(f"max_messages must be at least 1, got {max_messages}")
        super().__init__(_PubSubSource(subscription=subscription, with_attributes=True))
        self.subscription, self.max_messages = subscription, max_messages

    def expand(self, pbegin):
        # A native root, like Beam's: the runner's evaluator produces the elements.
        return PCollection(pbegin.pipeline, is_bounded=False)


class _Puller:
    """Long-pulls one subscription on a thread of its own into a queue, while fewer
    than `max_messages` of its messages are leased (queued or in work); what it pulled
    is held in the subscription's `Leases` at once."""

    def __init__(self, client, subscription: str, max_messages: int):
        self._client, self.subscription, self._max = client, subscription, max_messages
        self._queue: queue.Queue = queue.Queue(maxsize=max_messages)
        self._alone = True  # until messages show they are fast
        self._last_take, self._last_count = 0.0, 0
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._run, daemon=True, name=f"cadenza-pull-{subscription.rsplit('/', 1)[-1]}"
        )
        self._thread.start()

    def _run(self) -> None:
        from google.api_core.exceptions import DeadlineExceeded

        leases = leases_for(self.subscription)
        while not self._stopped.is_set():
            room = self._max - len(leases.held())  # queued or in work: leased either way
            if room <= 0:
                self._stopped.wait(0.01)
                continue
            try:
                response = self._client.pull(
                    subscription=self.subscription, max_messages=room, timeout=PULL_TIMEOUT_S
                )
            except DeadlineExceeded:
                continue
            except Exception as err:  # the server is away: try again shortly
                if not self._stopped.is_set():
                    LOGGER.warning("pulling %s failed: %s", self.subscription, err)
                self._stopped.wait(1.0)
                continue
            received = list(response.received_messages)
            if not received:
                continue
            leases.hold(r.ack_id for r in received)
            if self._stopped.is_set():  # stopped during the pull: give them back
                leases.nack([r.ack_id for r in received])
                return
            for message in received:
                self._queue.put(message)

    def take(self, wait_s: float) -> list:
        """The next bundle (waiting up to `wait_s` for its first message): the next
        message alone while messages take SLOW_MESSAGE_S or more, else all that is
        queued. The runner settles a bundle when it is done, so a slow message's bundle
        mates would wait for it; fast ones share one bundle's fixed cost (about 20 ms)."""
        now = time.monotonic()
        if self._last_count:  # the runner takes again once the last bundle is through
            self._alone = (now - self._last_take) / self._last_count >= SLOW_MESSAGE_S
        try:
            taken = [self._queue.get(timeout=wait_s)]
        except queue.Empty:
            self._last_count = 0
            return []
        while not self._alone:
            try:
                taken.append(self._queue.get_nowait())
            except queue.Empty:
                break
        self._last_take, self._last_count = time.monotonic(), len(taken)
        return taken

    def stop(self) -> None:
        self._stopped.set()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


_pullers: dict[str, _Puller] = {}
_pullers_lock = threading.Lock()


_client = None  # one subscriber client for every puller of the process


def _puller_for(subscription: str, max_messages: int) -> _Puller:
    global _client
    with _pullers_lock:
        puller = _pullers.get(subscription)
        if puller is None:
            _client = _client or subscriber_client()
            puller = _pullers[subscription] = _Puller(_client, subscription, max_messages)
        return puller


def stop_pulling(subscriptions) -> None:
    """Stops the pullers of `subscriptions` (before their leases are given back) and
    waits for their pulls to end: a process that exits with a pull still open leaves the
    Pub/Sub emulator delivering the next message to it, and that message then waits for
    its ack deadline before anyone else gets it."""
    with _pullers_lock:
        stopping = [_pullers.pop(name) for name in subscriptions if name in _pullers]
    for puller in stopping:
        puller.stop()
    for puller in stopping:
        puller.join(PULL_TIMEOUT_S + 1.0)


class _ReadLeasedEvaluator(_PubSubReadEvaluator):
    """Beam's Pub/Sub read evaluator, taking from the subscription's `_Puller`."""

    def _read_from_pubsub(self, timestamp_attribute):
        transform = self._applied_ptransform.transform
        puller = _puller_for(self._sub_name, transform.max_messages)
        return [_leased(r) for r in puller.take(TAKE_WAIT_S)]


def _leased(received) -> tuple[Timestamp, PubsubMessage]:
    message = PubsubMessage._from_message(received.message)
    message.attributes[ACK_ID_ATTRIBUTE] = received.ack_id
    return Timestamp.from_utc_datetime(received.message.publish_time), message


_register_lock = threading.Lock()


def register() -> None:
    """Makes the bundle-based DirectRunner evaluate `ReadLeased` with our evaluator."""
    with _register_lock:
        TransformEvaluatorRegistry._test_evaluators_overrides[ReadLeased] = _ReadLeasedEvaluator
