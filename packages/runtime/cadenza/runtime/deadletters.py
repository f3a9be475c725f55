"""Where dead letters go: a folder/bucket of JSON records and/or a Pub/Sub topic.

`dead_letter.location` in the job config names the folder (records go to
`<location>/dead_letter/<name>.json`); `dead_letter.topic` a topic, which gets each
record as JSON with the attributes `cadenza_job`, `cadenza_stage` and
`cadenza_element`. Without a location, records go under the job's local state folder.
"""

from __future__ import annotations

import threading

from cadenza.core import JobConfig
from cadenza.runtime.lifecycle.records import DeadLetter
from cadenza.runtime.storage import write_atomically

PUBLISH_TIMEOUT_S = 60.0


def dead_letter_folder(config: JobConfig, default_root: str) -> str:
    """`<dead_letter.location or default_root>/dead_letter`."""
    return f"{(config.dead_letter.location or default_root).rstrip('/')}/dead_letter"


def write_dead_letter(folder: str, name: str, record: DeadLetter) -> str:
    """Writes the record as `<folder>/<name>.json` (replacing one of the same name)."""
    path = f"{folder.rstrip('/')}/{name}.json"
    write_atomically(path, record.to_json().encode())
    return path


def publish_dead_letter(publisher, topic: str, record: DeadLetter) -> str:
    """Publishes the record to `topic` and waits until Pub/Sub has it; returns its id."""
    future = publisher.publish(
        topic,
        record.to_json().encode(),
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
