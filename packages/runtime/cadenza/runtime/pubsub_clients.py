"""Pub/Sub subscriber clients that receive Pub/Sub's largest messages from the emulator.

google-cloud-pubsub opens its channel to the emulator ($PUBSUB_EMULATOR_HOST) without
the message-size options it gives its channel to Pub/Sub itself, so gRPC's default
4 MiB receive limit applies: a pull whose answer is larger (one 4.5 MB message, or ten
of 500 kB) fails with "Received message larger than max", and again on every try, while
Pub/Sub takes messages up to 10 MB and the runtime publishes payloads up to 9 MB.
"""

from __future__ import annotations

import os

#: as google-cloud-pubsub sets them for Pub/Sub itself
_CHANNEL_OPTIONS = (("grpc.max_send_message_length", -1), ("grpc.max_receive_message_length", -1))


def subscriber_client():
    """A `pubsub_v1.SubscriberClient`; on the emulator, over a channel without the
    4 MiB limit."""
    from google.cloud import pubsub_v1

    host = os.environ.get("PUBSUB_EMULATOR_HOST")
    if not host:
        return pubsub_v1.SubscriberClient()
    import grpc
    from google.pubsub_v1.services.subscriber.transports.grpc import SubscriberGrpcTransport

    channel = grpc.insecure_channel(host, options=_CHANNEL_OPTIONS)
    return pubsub_v1.SubscriberClient(transport=SubscriberGrpcTransport(channel=channel))
