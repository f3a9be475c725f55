"""The Beam internals streaming/_direct_pubsub.py relies on are still there, as they were.

Beam is pinned at 2.77.0. If one of these fails after a Beam upgrade, the leased
Pub/Sub read must be checked against the new DirectRunner before anything else.
"""

import base64
import datetime as dt
import hashlib
import inspect
import json

import apache_beam
from apache_beam.io.gcp import pubsub as beam_pubsub
from apache_beam.runners.direct import direct_runner, executor, transform_evaluator
from google.cloud import pubsub_v1

from cadenza.runtime.deadletters import fit_for_topic
from cadenza.runtime.lifecycle.records import DeadLetter
from cadenza.runtime.streaming import _direct_pubsub
from cadenza.runtime.streaming.receipts import Receipt

CHECKED_WITH = "2.77.0"


def test_beam_is_the_version_the_internals_were_checked_with():
    assert apache_beam.__version__ == CHECKED_WITH, (
        f"Beam {apache_beam.__version__}: cadenza/runtime/streaming/_direct_pubsub.py relies "
        f"on DirectRunner internals checked with {CHECKED_WITH}; recheck it, then this test"
    )


def test_the_native_read_and_its_evaluator_keep_their_shape():
    read = direct_runner._DirectReadFromPubSub
    assert list(inspect.signature(read.__init__).parameters) == ["self", "source"]
    evaluator = transform_evaluator._PubSubReadEvaluator
    assert "self._sub_name = self.get_subscription(" in inspect.getsource(evaluator.__init__)
    assert list(inspect.signature(evaluator._read_from_pubsub).parameters) == [
        "self",
        "timestamp_attribute",
    ]
    finish = inspect.getsource(evaluator.finish_bundle)
    assert "self._read_from_pubsub(self.source.timestamp_attribute)" in finish
    assert "if self.source.with_attributes:" in finish
    source = inspect.signature(beam_pubsub._PubSubSource.__init__).parameters
    assert {"subscription", "with_attributes"} <= set(source)
    assert callable(beam_pubsub.PubsubMessage._from_message)


def test_the_registry_takes_overrides_and_looks_up_along_the_mro():
    registry = transform_evaluator.TransformEvaluatorRegistry
    assert isinstance(registry._test_evaluators_overrides, dict)
    assert "self._evaluators.update(self._test_evaluators_overrides)" in inspect.getsource(
        registry.__init__
    )
    assert "applied_ptransform.transform.__class__.mro()" in inspect.getsource(
        registry.get_evaluator
    )
    _direct_pubsub.register()
    evaluators = registry(evaluation_context=object())._evaluators
    assert evaluators[_direct_pubsub.ReadLeased] is _direct_pubsub._ReadLeasedEvaluator
    assert evaluators[direct_runner._DirectReadFromPubSub] is (
        transform_evaluator._PubSubReadEvaluator
    )


def test_the_runner_still_has_one_worker_thread():
    # run.py's account of slow elements (one bundle at a time) rests on this.
    assert executor._ExecutorServiceParallelExecutor.NUM_WORKERS == 1


def test_a_pulled_message_carries_its_ack_id_to_its_receipt():
    published = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    received = pubsub_v1.types.ReceivedMessage(
        ack_id="ack-1",
        message=pubsub_v1.types.PubsubMessage(
            data=b"payload", attributes={"k": "v"}, message_id="m-1", publish_time=published
        ),
    )
    timestamp, message = _direct_pubsub._leased(received)
    assert timestamp.to_utc_datetime(has_tz=True) == published
    assert message.attributes == {"k": "v", _direct_pubsub.ACK_ID_ATTRIBUTE: "ack-1"}
    receipt, event = Receipt.of("projects/p/subscriptions/s", message)
    assert (receipt.ack_id, receipt.message_id, event) == ("ack-1", "m-1", (b"payload", {"k": "v"}))


def test_a_record_too_large_for_its_topic_names_each_part_left_out():
    big, received = b"m" * 2000, b"r" * 10  # the message grew in work: two parts differ
    record = DeadLetter(
        job="j",
        stage="settle",
        reason="too large",
        message=big,
        received={"message_id": "1", "data": base64.b64encode(received).decode()},
    )
    data = json.loads(fit_for_topic(record, limit=500))
    assert data["message"] == "" and data["received"]["data"] == ""
    digest = hashlib.sha256
    assert data["reason"] == (
        f"too large [the message's 2000 bytes (sha256:{digest(big).hexdigest()}) and the "
        f"received message's 10 bytes (sha256:{digest(received).hexdigest()}) are left out: "
        "the record would be over Pub/Sub's size limit]"
    )
