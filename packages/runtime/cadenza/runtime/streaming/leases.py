"""Leases on pulled Pub/Sub messages: kept alive while in work, then acked or nacked.

A message pulled without acknowledging it is leased to this process until its ack
deadline. `Leases` holds the ack ids of the messages in work on one subscription and
a background thread extends their deadlines every `renew_every_s` by `lease_s`, so a
message that takes longer than the subscription's ack deadline is not redelivered
while it is being processed. When its outcome is durable the runtime calls `ack`;
when it cannot be settled, `give_back` (redelivered after a backoff), and on a stop,
`nack` (deadline 0: Pub/Sub redelivers it soon). If the
process dies, the renewals stop and Pub/Sub redelivers the message within `lease_s`.

One `Leases` per subscription per process: `leases_for(subscription)`.
"""

from __future__ import annotations

import logging
import threading

LOGGER = logging.getLogger("cadenza.streaming")

LEASE_S = 10  # Pub/Sub's minimum ack deadline: a dead process's messages return fast
RENEW_EVERY_S = 3.0
_CHUNK = 1000  # ack ids per request, well under the API's limit


class Leases:
    """The ack ids in work on one subscription, kept alive by a background thread."""

    def __init__(
        self,
        subscription: str,
        client=None,
        *,
        lease_s: int = LEASE_S,
        renew_every_s: float = RENEW_EVERY_S,
    ):
        self._own_client = client is None
        if client is None:
            from google.cloud import pubsub_v1

            client = pubsub_v1.SubscriberClient()
        self.subscription, self._client = subscription, client
        self._lease_s, self._renew_every_s = lease_s, renew_every_s
        self._held: set[str] = set()
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=self._renew_loop, daemon=True, name=f"cadenza-leases-{subscription}"
        )
        self._thread.start()

    @property
    def client(self):
        return self._client

    def hold(self, ack_ids) -> None:
        """Starts keeping these messages leased (call right after pulling them)."""
        with self._lock:
            self._held.update(ack_ids)

    def held(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._held)

    def ack(self, ack_id: str) -> None:
        """Acknowledges a settled message: Pub/Sub will not deliver it again."""
        self._client.acknowledge(subscription=self.subscription, ack_ids=[ack_id])
        with self._lock:
            self._held.discard(ack_id)

    def nack(self, ack_ids) -> None:
        """Gives messages back now (ack deadline 0), to be redelivered."""
        ack_ids = list(ack_ids)
        with self._lock:
            self._held.difference_update(ack_ids)
        for start in range(0, len(ack_ids), _CHUNK):
            self._client.modify_ack_deadline(
                subscription=self.subscription,
                ack_ids=ack_ids[start : start + _CHUNK],
                ack_deadline_seconds=0,
            )

    def give_back(self, ack_id: str, after_s: int) -> None:
        """Gives a message back to be redelivered in about `after_s` seconds (0-600):
        a backoff for a message that failed to settle."""
        with self._lock:
            self._held.discard(ack_id)
        self._client.modify_ack_deadline(
            subscription=self.subscription, ack_ids=[ack_id], ack_deadline_seconds=after_s
        )

    def renew(self) -> None:
        """Extends the deadline of every message in work by `lease_s`."""
        held = sorted(self.held())
        for start in range(0, len(held), _CHUNK):
            self._client.modify_ack_deadline(
                subscription=self.subscription,
                ack_ids=held[start : start + _CHUNK],
                ack_deadline_seconds=self._lease_s,
            )

    def _renew_loop(self) -> None:
        while not self._stopped.wait(self._renew_every_s):
            try:
                self.renew()
            except Exception as err:  # the next round tries again; Pub/Sub may redeliver
                LOGGER.warning("extending ack deadlines on %s failed: %s", self.subscription, err)

    def close(self, *, give_back: bool = True) -> None:
        """Stops renewing; with `give_back`, nacks what is still held (a graceful stop);
        closes the client it made."""
        self._stopped.set()
        held = self.held()
        if give_back and held:
            try:
                self.nack(held)
            except Exception as err:  # they come back when their deadline passes anyway
                LOGGER.warning("giving back %d message(s) failed: %s", len(held), err)
        if self._own_client:
            self._client.close()


_registry: dict[str, Leases] = {}
_registry_lock = threading.Lock()


def leases_for(subscription: str) -> Leases:
    """This process's `Leases` for `subscription` (made on first use)."""
    with _registry_lock:
        leases = _registry.get(subscription)
        if leases is None:
            leases = _registry[subscription] = Leases(subscription)
        return leases


def close_leases(subscriptions=None, *, give_back: bool = True) -> None:
    """Closes (and forgets) the leases of `subscriptions`, or of all."""
    with _registry_lock:
        names = list(_registry) if subscriptions is None else list(subscriptions)
        closing = [_registry.pop(name) for name in names if name in _registry]
    for leases in closing:
        leases.close(give_back=give_back)
