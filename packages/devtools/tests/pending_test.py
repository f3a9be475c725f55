"""Waiting messages saved when the local stack stops and published again on its start."""

import base64
import json

from google.cloud import pubsub_v1

from cadenza.devtools.emulators import PubSubEmulator, apply_env, restore_env
from cadenza.devtools.pending import restore_pending, save_pending

PROJECT = "cadenza-local"


def test_waiting_messages_over_4_mib_in_all_are_saved_and_restored(tmp_path):
    """Pub/Sub takes messages up to 10 MB; the client's channel to the emulator took
    pull answers up to 4 MiB only, so draining three 2 MB messages failed."""
    with PubSubEmulator(tmp_path / "pubsub") as emulator:
        previous = apply_env(emulator.env())
        try:
            publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
            topic = publisher.create_topic(name=f"projects/{PROJECT}/topics/events").name
            name = f"projects/{PROJECT}/subscriptions/waiting"
            subscriber.create_subscription(name=name, topic=topic)
            sent = [bytes([i]) * 2_000_000 for i in range(3)]
            for data in sent:
                publisher.publish(topic, data, kind="test").result(timeout=30)

            assert save_pending(PROJECT, [("waiting", "events")], tmp_path / "saved") == 3
            (saved,) = (tmp_path / "saved").glob("*.jsonl")
            records = [json.loads(line) for line in saved.read_text().splitlines()]
            assert sorted(base64.b64decode(r["data"]) for r in records) == sent

            assert restore_pending(PROJECT, tmp_path / "saved") == 3
            got = subscriber.pull(subscription=name, max_messages=1, timeout=30)
            assert len(got.received_messages[0].message.data) == 2_000_000
            subscriber.close()
        finally:
            restore_env(previous)
