"""Where dead letters go: a folder/bucket of JSON records and/or a Pub/Sub topic.

`dead_letter.location` in the job config names the folder (records go to
`<location>/dead_letter/<name>.json`); `dead_letter.topic` a topic, which gets each
record as JSON with the attributes `cadenza_job`, `cadenza_stage` and
`cadenza_element`. Without a location, records go under the job's local state folder.
"""

from __future__ import annotations

import base64
import hashlib
import threading

import attrs

from cadenza.core import JobConfig
from cadenza.runtime.lifecycle.records import DeadLetter
from cadenza.runtime.storage import write_atomically

PUBLISH_TIMEOUT_S = 60.0
TOPIC_RECORD_LIMIT = 9_000_000  # bytes of JSON: under Pub/Sub's 10 MB, attributes aside


def dead_letter_folder(config: JobConfig, default_root: str) -> str:
    """`<dead_letter.location or default_root>/dead_letter`."""
    return f"{(config.dead_letter.location or default_root).rstrip('/')}/dead_letter"


def write_dead_letter(folder: str, name: str, record: DeadLetter) -> str:
    """Writes the record as `<folder>/<name>.json` (replacing one of the same name)."""
    path = f"{folder.rstrip('/')}/{name}.json"
    write_atomically(path, record.to_json().encode())
    return path


def fit_for_topic(record: DeadLetter, limit: int = TOPIC_RECORD_LIMIT) -> bytes:
    """The record as JSON for a topic. A record over `limit` bytes (Pub/Sub takes at
    most 10 MB a message) goes without the message's bytes, its reason saying so."""
    data = record.to_json().encode()
    if len(data) <= limit:
        return data
    received_data = (record.received or {}).get("data")
    dropped = [("message", record.message)]
    received_bytes = base64.b64decode(received_data) if received_data else b""
    if received_bytes and received_bytes != record.message:
        dropped.append(("received message", received_bytes))
    parts = " and ".join(
        f"the {what}'s {len(body)} bytes (sha256:{hashlib.sha256(body).hexdigest()})"
        for what, body in dropped
    )
    note = f" [{parts} are left out: the record would be over Pub/Sub's size limit]"
    received = {**record.received, "data": ""} if record.received else None
    return (
        attrs.evolve(record, message=b"", received=received, reason=record.reason + note)
        .to_json()
        .encode()
    )


def publish_dead_letter(publisher, topic: str, record: DeadLetter) -> str:
    """Publishes the record to `topic` (see `fit_for_topic`) and waits until Pub/Sub has
    it; returns its id."""
    future = publisher.publish(
        topic,
        fit_for_topic(record),
        cadenza_job=record.job,
        cadenza_stage=record.stage,
        cadenza_element=record.element or "",
    )
    return future.result(timeout=PUBLISH_TIMEOUT_S)


_publisher = None
_publisher_lock = threading.Lock()


def shared_publisher():
    """This process's Pub/Sub publisher, batching for at most 2 ms (PUBSUB_EMULATOR_HOST
    is honoured)."""
    global _publisher
    with _publisher_lock:
        if _publisher is None:
            from google.cloud import pubsub_v1

            _publisher = pubsub_v1.PublisherClient(
                batch_settings=pubsub_v1.types.BatchSettings(max_messages=100, max_latency=0.002)
            )
        return _publisher
