"""The streaming runtime's ledger: a create-only JSON file for each publish Pub/Sub
confirmed (streaming/settle.py), so that nothing is published twice for one message.

    <ledger>/<receipt key>.<what>.json                 a request or dead letter
    <ledger>/<event id>.<receipt key>.event.json       an event for the children

An event's entry starts with the id of the message it published (derived from the
input message: lifecycle/publishing.py), so the ledger also answers "did any delivery
of this message publish its event?" (`event_published`): a copy of a message sent
again under another Pub/Sub id finds its outputs written by the first, and the event
out already.
"""

from __future__ import annotations

from apache_beam.io.filesystems import FileSystems


def entry_path(ledger: str, receipt_key: str, what: str, event_id: str = "") -> str:
    """The entry recording that `what` was published for the message `receipt_key`."""
    name = f"{event_id}.{receipt_key}.{what}.json" if event_id else f"{receipt_key}.{what}.json"
    return f"{ledger.rstrip('/')}/{name}"


def event_published(ledger: str, event_id: str) -> bool:
    """True when an event with `event_id` went out to every output topic."""
    (result,) = FileSystems.match([entry_path(ledger, "*", "event", event_id)])
    return bool(result.metadata_list)
