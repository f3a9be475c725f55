"""What the runtime keeps of each Pub/Sub message it pulled: enough to ack and replay it."""

from __future__ import annotations

import base64
import hashlib

import attrs

from cadenza.runtime.streaming._direct_pubsub import ACK_ID_ATTRIBUTE


@attrs.frozen(kw_only=True)
class Receipt:
    """One pulled message: where from, its ack id, its Pub/Sub id and what it said."""

    subscription: str  # projects/P/subscriptions/S
    ack_id: str
    message_id: str  # Pub/Sub's id: the same in every redelivery
    data: bytes
    attributes: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, subscription: str, message) -> tuple[Receipt, tuple[bytes, dict]]:
        """The receipt of a PubsubMessage read by `ReadLeased`, and the event it carries."""
        attributes = dict(message.attributes or {})
        ack_id = attributes.pop(ACK_ID_ATTRIBUTE)
        receipt = cls(
            subscription=subscription,
            ack_id=ack_id,
            message_id=message.message_id or "",
            data=bytes(message.data or b""),
            attributes=tuple(sorted(attributes.items())),
        )
        return receipt, (receipt.data, attributes)

    @property
    def key(self) -> str:
        """A file-name-safe key for this message, unique per subscription."""
        return hashlib.sha256(f"{self.subscription}\0{self.message_id}".encode()).hexdigest()[:32]

    def describe(self) -> dict:
        """The message as received, for dead-letter records (JSON-ready)."""
        return {
            "subscription": self.subscription,
            "message_id": self.message_id,
            "data": base64.b64encode(self.data).decode(),
            "attributes": dict(self.attributes),
        }
