"""Unacknowledged Pub/Sub messages kept across a restart of the local stack.

The Pub/Sub emulator keeps messages in memory only. When the stack stops, `save_pending`
pulls every message still waiting in the recorded subscriptions (without acknowledging:
the emulator is about to go; all subscriptions at once, so a stop takes about
`DRAIN_WAIT_S`) into `<folder>/<subscription>.jsonl`; when it starts again,
`restore_pending` publishes each one again to its subscription's topic, with the
attribute `RESTORED_FOR_ATTRIBUTE` naming the subscription it was waiting in, and
removes the file. The topic's other subscriptions receive the copy too: the runtime
acknowledges, without processing, a restored message meant for another subscription
(streaming/topology.py), so each subscription gets back exactly what it had.

A stack that is killed rather than stopped has no chance to save: its waiting messages
are lost, as before.
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import pathlib

from cadenza.core.wiring import RESTORED_FOR_ATTRIBUTE
from cadenza.devtools.wiring_apply import pubsub_path
from cadenza.runtime.pubsub_clients import subscriber_client

PULL_BATCH = 1000
DRAIN_WAIT_S = 3.0  # a pull that brings nothing for this long: the subscription is empty


def _file(folder: pathlib.Path, subscription: str) -> pathlib.Path:
    return folder / f"{subscription}.jsonl"


def _drain(subscriber, path: str, topic: str) -> list[dict]:
    """Every message waiting in `path`, pulled (not acknowledged): immediate pulls while
    they bring messages, then one pull that waits `DRAIN_WAIT_S` to confirm the
    subscription is empty (the emulator's immediate pulls can come back empty while
    messages wait)."""
    from google.api_core.exceptions import DeadlineExceeded, NotFound

    try:
        subscriber.get_subscription(subscription=path, timeout=30)  # connects, too
    except NotFound:
        return []
    records, waited = [], False
    while True:
        try:
            response = subscriber.pull(
                request={
                    "subscription": path,
                    "max_messages": PULL_BATCH,
                    "return_immediately": not waited,
                },
                timeout=DRAIN_WAIT_S if waited else 30,
            )
            received = response.received_messages
        except DeadlineExceeded:
            received = []
        if not received:
            if waited:
                return records
            waited = True
            continue
        waited = False
        records += [
            {
                "topic": topic,
                "data": base64.b64encode(r.message.data).decode(),
                "attributes": dict(r.message.attributes),
                "published": r.message.publish_time.isoformat(),
            }
            for r in received
        ]


def save_pending(project: str, subscriptions, folder: pathlib.Path) -> int:
    """Saves the waiting messages of `subscriptions` ((name, topic) pairs), all drained
    at once; returns how many. PUBSUB_EMULATOR_HOST must point at the running emulator."""
    subscriber = subscriber_client()  # drained at once: often over 4 MiB
    saved = 0
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            drained = {
                name: pool.submit(
                    _drain, subscriber, f"projects/{project}/subscriptions/{name}", topic
                )
                for name, topic in subscriptions
            }
        for name, future in drained.items():
            records = future.result()
            if records:
                folder.mkdir(parents=True, exist_ok=True)
                target = _file(folder, name)
                tmp = target.with_suffix(".tmp")
                tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
                tmp.replace(target)
                saved += len(records)
    finally:
        subscriber.close()
    return saved


def restore_pending(project: str, folder: pathlib.Path) -> int:
    """Publishes the saved messages again (see the module docstring); returns how many."""
    files = sorted(folder.glob("*.jsonl")) if folder.is_dir() else []
    if not files:
        return 0
    from google.cloud import pubsub_v1

    publisher = pubsub_v1.PublisherClient()
    restored = 0
    for path in files:
        subscription = f"projects/{project}/subscriptions/{path.stem}"
        futures = []
        for line in path.read_text().splitlines():
            record = json.loads(line)
            attributes = {**record["attributes"], RESTORED_FOR_ATTRIBUTE: subscription}
            futures.append(
                publisher.publish(
                    pubsub_path("topics", record["topic"], project),
                    base64.b64decode(record["data"]),
                    **attributes,
                )
            )
        for future in futures:
            future.result(timeout=30)
        path.unlink()
        restored += len(futures)
    return restored
