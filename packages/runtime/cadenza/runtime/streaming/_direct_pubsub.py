"""The local runner's Pub/Sub read, without Beam's acknowledge-on-read.

Beam's DirectRunner acknowledges each message as soon as it pulls it, so a crash loses
every message in work. `ReadLeased` is a drop-in read for the bundle-based DirectRunner
(`--streaming`) that pulls without acknowledging: each message is held in this
process's `Leases` (deadlines extended while in work) and its ack id travels with it
in the `ACK_ID_ATTRIBUTE` attribute, until the runtime acks it after its outcome is
durable (streaming/settle.py).

BEAM INTERNALS this module relies on (apache-beam==2.77.0 is pinned in the lock;
tests/streaming_internals_test.py fails loudly if any of them changes):

- `apache_beam.runners.direct.direct_runner._DirectReadFromPubSub`: the DirectRunner's
  native Pub/Sub read transform (constructor `(source)`, stored as `_source`).
  `ReadLeased` subclasses it, so the runner treats it as a native root transform.
- `apache_beam.runners.direct.transform_evaluator._PubSubReadEvaluator`: its
  evaluator. Reused: the constructor (sets `self._sub_name` from
  `source.project`/`source.subscription_name`), the classmethod
  `_get_subscriber_client(applied_ptransform)`, and `finish_bundle()`, which calls
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

import threading

from apache_beam.io.gcp.pubsub import PubsubMessage, _PubSubSource
from apache_beam.pvalue import PCollection
from apache_beam.runners.direct.direct_runner import _DirectReadFromPubSub
from apache_beam.runners.direct.transform_evaluator import (
    TransformEvaluatorRegistry,
    _PubSubReadEvaluator,
)
from apache_beam.utils.timestamp import Timestamp

from cadenza.runtime.streaming.leases import leases_for

ACK_ID_ATTRIBUTE = "cadenza.ack_id"
PULL_TIMEOUT_S = 5.0  # a long pull: the server answers as soon as a message arrives


class ReadLeased(_DirectReadFromPubSub):
    """Reads `subscription` (a full path) as PubsubMessages carrying their ack id;
    acknowledging them is the pipeline's job. Bundle-based DirectRunner only."""

    def __init__(self, subscription: str, max_messages: int = 10):
        super().__init__(_PubSubSource(subscription=subscription, with_attributes=True))
        self.subscription, self.max_messages = subscription, max_messages

    def expand(self, pbegin):
        # A native root, like Beam's: the runner's evaluator produces the elements.
        return PCollection(pbegin.pipeline, is_bounded=False)


class _ReadLeasedEvaluator(_PubSubReadEvaluator):
    """Beam's Pub/Sub read evaluator, pulling without acknowledging."""

    def _read_from_pubsub(self, timestamp_attribute):
        from google.api_core.exceptions import DeadlineExceeded

        transform = self._applied_ptransform.transform
        client = self._get_subscriber_client(self._applied_ptransform)
        leases = leases_for(self._sub_name)
        try:
            response = client.pull(
                subscription=self._sub_name,
                max_messages=transform.max_messages,
                timeout=PULL_TIMEOUT_S,
            )
        except DeadlineExceeded:
            return []
        received = list(response.received_messages)
        leases.hold(r.ack_id for r in received)
        return [_leased(r) for r in received]


def _leased(received) -> tuple[Timestamp, PubsubMessage]:
    message = PubsubMessage._from_message(received.message)
    message.attributes[ACK_ID_ATTRIBUTE] = received.ack_id
    return Timestamp.from_utc_datetime(received.message.publish_time), message


_register_lock = threading.Lock()


def register() -> None:
    """Makes the bundle-based DirectRunner evaluate `ReadLeased` with our evaluator."""
    with _register_lock:
        TransformEvaluatorRegistry._test_evaluators_overrides[ReadLeased] = _ReadLeasedEvaluator
