"""Streaming on the local runner against the real Pub/Sub and Cloud Storage emulators.

Every test gets fresh topics, subscriptions (10 s ack deadlines) and a fresh bucket.
The job runs in this process; its logic counts its calls per element (CALLS).
"""

import base64
import collections
import hashlib
import json
import logging
import threading
import time

import attrs
import pytest
from google.cloud import storage
from jobs_for_tests import CALLS, Counting, gcs_config_text, put_gcs_input

from cadenza.core import Message, decode, encode, parse_job_config
from cadenza.runtime.event_ledger import entry_path
from cadenza.runtime.lifecycle.publishing import child_message_id
from cadenza.runtime.storage import read_provenance, write_atomically, write_provenance
from cadenza.runtime.streaming import StreamingSetupError, run_streaming
from cadenza.runtime.streaming.leases import leases_for
from cadenza.runtime.streaming.receipts import Receipt
from cadenza.runtime.streaming.settle import SETTLE_ATTEMPTS
from cadenza_fixtures import wait_for


class Job:
    """A job with its own input subscription, output topic and watchers, in one bucket."""

    def __init__(
        self, pubsub, bucket, tmp_path, extra: str = "", dead_letter_topic=False, events=""
    ):
        self.pubsub, self.bucket, self.tmp_path = pubsub, bucket, tmp_path
        self.name = pubsub.unique("describe")
        self.input_topic = pubsub.topic(pubsub.unique("in"))
        self.subscription = pubsub.subscription(pubsub.unique("in"), self.input_topic)
        self.output_topic = pubsub.topic(f"cadenza-{self.name}-out")
        self.watch = pubsub.subscription(pubsub.unique("watch"), self.output_topic)
        dead = f"location: gs://{bucket}/dead"
        if dead_letter_topic:
            self.dead_topic = topic = pubsub.topic(pubsub.unique("dead"))
            self.dead_watch = pubsub.subscription(pubsub.unique("dead-watch"), topic)
            dead += f", topic: {topic}"
        text = gcs_config_text(
            bucket,
            self.name,
            f"events: {{inputs: [{{type: pubsub, subscription: {self.subscription}}}]{events}}}\n"
            f"dead_letter: {{{dead}}}\n{extra}",
        )
        self.config = parse_job_config(text, env={})
        self.events: list[Message] = []
        self.ids: dict[str, str] = {}  # element -> message_id of what we published

    def start(self, logic=None, **kwargs):
        return run_streaming(
            self.config, logic or Counting(), runs_root=str(self.tmp_path / "runs"), **kwargs
        )

    def send(self, element: str) -> str:
        message = Message.new(element)
        self.ids[element] = message.message_id
        return self.pubsub.publish(self.input_topic, encode(message))

    def collect(self) -> list[Message]:
        self.events += [decode(m.data) for m in self.pubsub.pull(self.watch)]
        return self.events

    def event_counts(self) -> collections.Counter:
        return collections.Counter(m.element for m in self.events)

    def dead_letters(self) -> dict[str, dict]:
        blobs = storage.Client().list_blobs(self.bucket, prefix="dead/dead_letter/")
        records = [json.loads(b.download_as_bytes()) for b in blobs]
        return {
            r["element"] or base64.b64decode(r["message"]).decode("latin-1"): r for r in records
        }

    def output_names(self) -> set[str]:
        return {b.name for b in storage.Client().list_blobs(self.bucket, prefix="out/")}


@pytest.fixture
def job(pubsub, gcs_bucket, tmp_path):
    CALLS.clear()
    return lambda **kwargs: Job(pubsub, gcs_bucket, tmp_path, **kwargs)


def test_a_hundred_messages_each_processed_once_acked_after_output(
    job, pubsub, emulators, gcs_bucket
):
    j = job(dead_letter_topic=True)
    uploads = pubsub.subscription(
        pubsub.unique("uploads"), f"projects/{emulators.project}/topics/{emulators.uploads_topic}"
    )
    good = [f"g{i:02d}" for i in range(90)]
    failing, missing = ["f0", "f1", "f2", "f3"], ["m0", "m1", "m2"]
    garbage = [b"\xffgarbage-%d" % i for i in range(3)]
    for element in good:
        put_gcs_input(gcs_bucket, element, f"hello {element}")
    for element in failing:
        put_gcs_input(gcs_bucket, element, "fail")
    sent = []
    for element in good[:50] + failing + missing:
        sent.append(j.send(element))
    for data in garbage:
        sent.append(pubsub.publish(j.input_topic, data))
    run = j.start()
    for element in good[50:]:
        sent.append(j.send(element))
    assert len(sent) == 100
    wait_for(
        lambda: len(j.collect()) >= 90 and len(j.dead_letters()) >= 10,
        "90 output events and 10 dead letters",
    )
    run.stop()
    j.collect()
    j.events += [decode(m.data) for m in pubsub.drain(j.watch)]

    assert run.error is None
    assert run.settled() == {"dead_letter": 10, "publish": 90}
    assert j.event_counts() == collections.Counter(good), "one output event per good message"
    assert {e: CALLS[e] for e in good + failing} == dict.fromkeys(good + failing, 1)
    assert not pubsub.pull(j.subscription), "every message was acknowledged"
    outputs = j.output_names()
    for element in good:
        assert {f"out/{element}.json", f"out/{element}.bin"} <= outputs
        record = read_provenance(f"gs://{gcs_bucket}/out/{element}.json")
        assert record["message_id"] == j.ids[element]
    assert not [o for o in outputs if o.split("/")[1].split(".")[0] not in good]
    finalized = collections.Counter(
        m.attributes["objectId"]
        for m in pubsub.drain(uploads)
        if m.attributes["bucketId"] == gcs_bucket and m.attributes["objectId"].startswith("out/")
    )
    assert set(finalized.values()) == {1}, "each output object was written exactly once"
    assert len(finalized) == 2 * len(good)  # two outputs each, provenance as their metadata

    dead = j.dead_letters()
    assert len(dead) == 10
    for element in failing:
        assert dead[element]["reason"] == f"ValueError: input of {element} asks to fail"
        assert dead[element]["stage"] == "logic"
        assert "Traceback" in dead[element]["traceback"]
    for element in missing:
        assert dead[element]["reason"].startswith("data input missing: audio (gs://")
    for data in garbage:
        record = dead[data.decode("latin-1")]
        assert record["stage"] == "decode" and "not a Cadenza message" in record["reason"]
        assert base64.b64decode(record["received"]["data"]) == data
    assert {r["job"] for r in dead.values()} == {j.name}
    assert {r["received"]["message_id"] for r in dead.values()} <= set(sent)
    on_topic = [json.loads(m.data) for m in pubsub.drain(j.dead_watch)]
    assert sorted(r["reason"] for r in on_topic) == sorted(r["reason"] for r in dead.values())


def test_a_stuck_element_does_not_hold_up_the_others(job, gcs_bucket):
    j = job(extra="execution: {timeout_s: 1}")
    put_gcs_input(gcs_bucket, "stuck", "sleep 3600")
    fast = [f"fast{i}" for i in range(5)]
    for element in fast:
        put_gcs_input(gcs_bucket, element)
    run = j.start(max_messages=1)
    for element in ["stuck", *fast]:
        j.send(element)
    wait_for(lambda: len(j.collect()) >= 5 and j.dead_letters(), "5 events and a dead letter")
    run.stop()
    assert j.event_counts() == collections.Counter(fast)
    assert j.dead_letters()["stuck"]["reason"] == "process() took longer than 1.0 s"


def test_leases_outlast_the_ack_deadline(job, pubsub, gcs_bucket):
    j = job(extra="execution: {timeout_s: 60}")
    put_gcs_input(gcs_bucket, "slow", "sleep 13")  # longer than the 10 s ack deadline
    run = j.start()
    j.send("slow")
    wait_for(lambda: j.collect(), "the slow element's event")
    run.stop()
    j.events += [decode(m.data) for m in pubsub.drain(j.watch)]
    assert CALLS["slow"] == 1, "not redelivered while in work"
    assert j.event_counts() == {"slow": 1}
    assert not pubsub.pull(j.subscription)


def test_unfinished_messages_go_back_and_finish_once_after_a_restart(job, pubsub, gcs_bucket):
    """A stop lets the step in work finish (the outputs get written) but acks nothing
    more: the message comes back, and the restarted job finds the outputs it wrote,
    skips the work and publishes the event once, audited `processed`."""
    j = job(extra="execution: {timeout_s: 60}")
    put_gcs_input(gcs_bucket, "gate", "sleep 3")
    run = j.start()
    j.send("gate")
    wait_for(lambda: CALLS["gate"] == 1, "the logic to start on the element")
    run.stop()
    assert not j.collect(), "no event before the stop"
    back = pubsub.pull(j.subscription, ack=False)
    assert [decode(r.message.data).element for r in back] == ["gate"], "not acknowledged"
    pubsub.subscriber.modify_ack_deadline(
        subscription=j.subscription, ack_ids=[r.ack_id for r in back], ack_deadline_seconds=0
    )

    run = j.start()
    wait_for(lambda: j.collect(), "the event after the restart")
    run.stop()
    j.events += [decode(m.data) for m in pubsub.drain(j.watch)]
    assert j.event_counts() == {"gate": 1}
    assert [e.outcome.value for e in j.events[0].audit_log] == ["processed"]
    assert CALLS["gate"] == 1 and "out/gate.json" in j.output_names()
    assert not pubsub.pull(j.subscription)


def test_a_redelivered_message_publishes_its_event_once(job, pubsub, gcs_bucket, tmp_path):
    """What a restarted job finds after a crash: outputs written but no event (it is
    published, the work skipped), or outputs and the ledger entry (only acked)."""
    j = job()
    for element in ("written", "published"):
        for suffix in (".json", ".bin"):
            path = f"gs://{gcs_bucket}/out/{element}{suffix}"
            write_atomically(path, b"from the attempt that crashed")
            write_provenance(path, {"job_version": "2"})
    generation = storage.Client().bucket(gcs_bucket).get_blob("out/written.json").generation
    j.send("written")
    published_id = j.send("published")
    receipt = Receipt(
        subscription=j.subscription, ack_id="", message_id=published_id, data=b"", attributes=()
    )
    event_id = child_message_id(j.name, Message(element="published", message_id=j.ids["published"]))
    ledger = entry_path(str(tmp_path / "runs" / j.name / "ledger"), receipt.key, "event", event_id)
    write_atomically(ledger, b"{}")  # the crashed attempt had published and recorded it
    put_gcs_input(gcs_bucket, "fresh")
    j.send("fresh")
    run = j.start()
    wait_for(lambda: len(j.collect()) >= 2, "two events")
    run.stop()
    j.events += [decode(m.data) for m in pubsub.drain(j.watch)]
    assert j.event_counts() == {"written": 1, "fresh": 1}
    assert run.settled() == {"event_already_published": 1, "publish": 3}
    assert CALLS["written"] == 0 and CALLS["published"] == 0
    assert storage.Client().bucket(gcs_bucket).get_blob("out/written.json").generation == (
        generation
    )
    assert not pubsub.pull(j.subscription)


def test_a_message_sent_twice_publishes_its_event_once(job, pubsub, gcs_bucket):
    """The same Cadenza message under two Pub/Sub ids: the second finds the outputs the
    first wrote and its event in the ledger, and is only acknowledged. Sent again after
    its outputs were deleted, the work is redone and the children hear of it."""
    j = job()
    put_gcs_input(gcs_bucket, "twice")
    message = Message.new("twice")
    run = j.start()
    j.pubsub.publish(j.input_topic, encode(message))
    settled = lambda: sum(run.settled().values())  # noqa: E731
    wait_for(lambda: settled() == 1, "the first copy settled")
    j.pubsub.publish(j.input_topic, encode(message))
    wait_for(lambda: settled() == 2, "the second copy settled")
    assert run.settled() == {"finished": 1, "publish": 1}, "the second copy published nothing"
    for blob in storage.Client().list_blobs(gcs_bucket, prefix="out/twice."):
        blob.delete()
    j.pubsub.publish(j.input_topic, encode(message))
    wait_for(lambda: settled() == 3, "the third copy settled")
    run.stop()
    j.events += [decode(m.data) for m in pubsub.drain(j.watch)]
    j.collect()

    assert run.settled() == {"finished": 1, "publish": 2}
    assert j.event_counts() == {"twice": 2} and CALLS["twice"] == 2
    assert len({e.message_id for e in j.events}) == 1, "one event id: children can drop it"
    assert not pubsub.pull(j.subscription), "every copy acknowledged"


def test_upload_notifications_stream_under_the_prefix_only(pubsub, emulators, gcs_bucket, tmp_path):
    name = pubsub.unique("uploads")
    uploads = f"projects/{emulators.project}/topics/{emulators.uploads_topic}"
    pubsub.subscription(f"cadenza-{name}-uploads-{gcs_bucket}", uploads)
    watch = pubsub.subscription(pubsub.unique("watch"), pubsub.topic(f"cadenza-{name}-out"))
    extra = pubsub.topic(pubsub.unique("extra"))  # a second event output
    watch_extra = pubsub.subscription(pubsub.unique("watch-extra"), extra)
    config = parse_job_config(
        f"""
job_name: {name}
events:
  accept: [gcs_notification]
  inputs: [{{type: gcs_notification, bucket: {gcs_bucket}, prefix: new/}}]
  outputs: [{{type: pubsub, topic: {extra}}}]
data:
  inputs: [{{name: audio, location: "gs://{gcs_bucket}"}}]
  outputs:
    - {{name: report, location: "gs://{gcs_bucket}/out", suffix: .json}}
    - {{name: copy, location: "gs://{gcs_bucket}/out", suffix: .bin}}
""",
        env={},
    )
    CALLS.clear()
    run = run_streaming(config, Counting(), runs_root=str(tmp_path / "runs"))
    bucket = storage.Client().bucket(gcs_bucket)
    for upload in ("new/a.txt", "other/c.txt", "new/b.txt"):
        bucket.blob(upload).upload_from_string(b"hello")
    events = []
    wait_for(lambda: len(events.extend(pubsub.pull(watch)) or events) >= 2, "two events")
    run.stop()
    events += pubsub.drain(watch)
    assert sorted(decode(m.data).element for m in events) == ["new/a.txt", "new/b.txt"]
    on_extra = pubsub.drain(watch_extra)
    assert sorted(m.data for m in on_extra) == sorted(m.data for m in events)
    assert dict(CALLS) == {"new/a.txt": 1, "new/b.txt": 1}
    assert {b.name for b in bucket.list_blobs(prefix="out/") if b.name.endswith("txt.json")} == {
        "out/new/a.txt.json",
        "out/new/b.txt.json",
    }
    assert events[0].attributes["cadenza_message_id"] == decode(events[0].data).message_id


def test_missing_topics_and_subscriptions_are_named(pubsub, gcs_bucket, tmp_path):
    config = parse_job_config(
        gcs_config_text(
            gcs_bucket, "nowhere", "events: {inputs: [{type: pubsub, subscription: no-such-sub}]}"
        ),
        env={},
    )
    with pytest.raises(StreamingSetupError) as err:
        run_streaming(config, Counting(), runs_root=str(tmp_path))
    assert "subscription projects/cadenza-local/subscriptions/no-such-sub" in str(err.value)
    assert "topic projects/cadenza-local/topics/cadenza-nowhere-out" in str(err.value)


LIFECYCLE_EVENTS: list[str] = []


class SetUpOnce(Counting):
    """Counting, recording its setups and teardowns in `LIFECYCLE_EVENTS`."""

    def setup(self, config):
        LIFECYCLE_EVENTS.append("setup")

    def teardown(self):
        LIFECYCLE_EVENTS.append("teardown")


def test_the_logic_is_set_up_once_before_the_first_message(job, gcs_bucket, tmp_path):
    j = job()
    LIFECYCLE_EVENTS.clear()
    run = run_streaming(j.config, SetUpOnce(), runs_root=str(tmp_path / "runs"))
    assert LIFECYCLE_EVENTS == ["setup"]  # at start, with no message sent yet
    for element in ("s1", "s2", "s3"):
        put_gcs_input(gcs_bucket, element, "hello")
        j.send(element)
    wait_for(lambda: len(j.collect()) >= 3, "3 output events")
    run.stop()
    assert LIFECYCLE_EVENTS == ["setup", "teardown"]
    assert {e: CALLS[e] for e in ("s1", "s2", "s3")} == {"s1": 1, "s2": 1, "s3": 1}


def test_a_message_whose_event_cannot_go_out_is_dead_lettered_after_its_attempts(
    job, pubsub, gcs_bucket
):
    """Two output topics, one gone after the start: the event goes to the other once,
    the message comes back with a backoff, then is dead-lettered (stage settle)."""
    extra = pubsub.topic(pubsub.unique("extra"))
    j = job(events=f", outputs: [{{type: pubsub, topic: {extra}}}]")
    put_gcs_input(gcs_bucket, "e1")
    run = j.start()
    pubsub.delete_topic(extra)  # deleted, or its permissions changed, under the job
    j.send("e1")
    wait_for(lambda: "e1" in j.dead_letters(), "the dead letter of e1")
    run.stop()
    j.events += [decode(m.data) for m in pubsub.drain(j.watch)]

    assert j.event_counts() == {"e1": 1}, "the topic that worked got the event once"
    record = j.dead_letters()["e1"]
    assert record["stage"] == "settle"
    assert record["reason"].startswith(
        f"not settled after {SETTLE_ATTEMPTS} attempts (publishing its event): "
        f"RuntimeError: publishing failed on {extra}: NotFound"
    )
    assert decode(base64.b64decode(record["received"]["data"])).element == "e1"
    assert run.settled() == {"dead_letter_settle": 1, "given_back": SETTLE_ATTEMPTS - 1}
    assert CALLS["e1"] == 1
    assert not pubsub.pull(j.subscription), "acked once dead-lettered"


def test_a_dead_letter_too_large_for_its_topic_goes_there_without_the_message(
    job, pubsub, gcs_bucket, caplog
):
    caplog.set_level(logging.WARNING, logger="cadenza.streaming")
    j = job(dead_letter_topic=True)
    # undecodable; its record would carry it twice, in base64. Over gRPC's default 4 MiB
    # receive limit, which the Pub/Sub client keeps on the emulator: every pull failed
    big = b"\xff" * 6_000_000
    pubsub.publish(j.input_topic, big)
    put_gcs_input(gcs_bucket, "e1")
    j.send("e1")  # and the messages pulled with it go on
    run = j.start()
    got = wait_for(lambda: pubsub.pull(j.dead_watch), "the record on the dead-letter topic")
    wait_for(lambda: run.settled().get("publish"), "e1's event")
    run.stop()

    record = json.loads(got[0].data)
    assert record["stage"] == "decode" and record["message"] == ""
    assert record["received"]["data"] == ""
    digest = hashlib.sha256(big).hexdigest()
    assert f"the message's 6000000 bytes (sha256:{digest}) are left out" in record["reason"]
    (full,) = j.dead_letters().values()  # the folder's record has them
    assert base64.b64decode(full["received"]["data"]) == big
    assert run.settled() == {"dead_letter": 1, "publish": 1}
    (logged,) = [r.getMessage() for r in caplog.records if "dead-lettered" in r.getMessage()]
    assert f"dead-lettered at decode to gs://{gcs_bucket}/dead/dead_letter/" in logged
    assert f".json and {j.dead_topic}: {full['reason']}" in logged


def test_a_ledger_that_cannot_be_written_does_not_publish_again(job, pubsub, gcs_bucket, tmp_path):
    """The event is in Pub/Sub once confirmed: settling again would publish it again."""
    j = job()
    put_gcs_input(gcs_bucket, "e1")
    state = tmp_path / "runs" / j.name
    state.mkdir(parents=True)
    (state / "ledger").write_text("a file where the ledger folder goes")  # as a full disk
    run = j.start()
    j.send("e1")
    wait_for(lambda: run.settled().get("publish"), "e1 settled")
    run.stop()
    j.events += [decode(m.data) for m in pubsub.drain(j.watch)]

    assert j.event_counts() == {"e1": 1} and CALLS["e1"] == 1
    assert run.settled() == {"ledger_failures": 1, "publish": 1}
    assert not j.dead_letters() and not pubsub.pull(j.subscription), "acked"


class Gated(Counting):
    """Counting; every call after the first waits until GATE is open (at most 60 s)."""

    def process(self, ctx):
        with GATE_LOCK:
            first = not GATE_CALLS
            GATE_CALLS.append(ctx.element)
        if first:
            time.sleep(0.2)  # a slow message: bundled alone from now on
        else:
            GATE.wait(60)
        return super().process(ctx)


GATE, GATE_LOCK, GATE_CALLS = threading.Event(), threading.Lock(), []


@pytest.fixture
def gate():
    GATE.clear()
    GATE_CALLS.clear()
    yield GATE
    GATE.set()


def test_a_slow_message_holds_back_neither_the_finished_nor_the_leases_beyond_max(
    job, pubsub, gcs_bucket, gate
):
    """Slow messages go one per bundle: the first is settled while the next is still
    in work (a bundle is settled when all of it is done). And no more than
    `max_messages` are leased at once, queued or in work."""
    j = job(extra="execution: {timeout_s: 120}")
    for i in range(6):
        put_gcs_input(gcs_bucket, f"g{i}")
        j.send(f"g{i}")
    run = j.start(Gated(), max_messages=2)
    (first,) = wait_for(j.collect, "the first event, while the next message waits")
    assert first.element == GATE_CALLS[0]
    wait_for(lambda: len(GATE_CALLS) == 2, "the second message in work")
    leased = []
    for _ in range(10):  # the puller had time to pull more, were there room
        leased.append(len(leases_for(j.subscription).held()))
        time.sleep(0.1)
    assert max(leased) == 2
    gate.set()
    wait_for(lambda: len(j.collect()) == 6, "all six events")
    run.stop()
    assert j.event_counts() == {f"g{i}": 1 for i in range(6)}


class WithPayload(Counting):
    """Counting, returning a payload for the children."""

    def process(self, ctx):
        return attrs.evolve(super().process(ctx), payload=f"for {ctx.element}".encode())


def test_a_redelivery_after_the_write_sends_the_payload_the_logic_returned(job, pubsub, gcs_bucket):
    """The output topic is gone while the message is written: it goes back; the job
    stops and, once the topic is back, a restart publishes the event, with the payload
    the logic returned the first time (kept in the outputs' provenance)."""
    j = job()
    put_gcs_input(gcs_bucket, "e1")
    run = j.start(logic=WithPayload())
    pubsub.delete_topic(j.output_topic)
    j.send("e1")
    wait_for(lambda: run.settled().get("given_back"), "the first failed publish")
    run.stop()
    provenance = read_provenance(f"gs://{gcs_bucket}/out/e1.json")
    assert base64.b64decode(provenance["payload"]) == b"for e1"

    j.output_topic = pubsub.topic(f"cadenza-{j.name}-out")
    watch = pubsub.subscription(pubsub.unique("watch-again"), j.output_topic)
    run = j.start(logic=WithPayload())
    got = wait_for(lambda: pubsub.pull(watch), "the event after the restart")
    run.stop()

    (event,) = [decode(m.data) for m in got]
    assert event.element == "e1" and event.payload == b"for e1"
    assert [e.outcome.value for e in event.audit_log] == ["processed"]
    assert CALLS["e1"] == 1, "the work was not done again"
