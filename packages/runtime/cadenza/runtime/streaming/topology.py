"""Which subscriptions a streaming job reads and which topics it publishes to.

Names follow the wiring plan (cadenza.core.wiring): a `pubsub` input names its
subscription; a `gcs_notification` input reads `cadenza-<job>-uploads-<bucket>` and
keeps only objects under its prefix; with `from_upstream` (the job deployed in the
DAG), each parent's output events come through `cadenza-<job>-from-<parent>`, and
messages sent to the job itself (bottom-up requests, pings, reruns) through
`cadenza-<job>-in`. The job publishes to `cadenza-<job>-out` and to every topic under
`events.outputs`, and its bottom-up requests to its parents' `cadenza-<parent>-in`.
Short names get the project (pubsub_names.py).
"""

from __future__ import annotations

import attrs

from cadenza.core import ConfigError, JobConfig
from cadenza.core.config import GcsNotificationInput, PubSubInput
from cadenza.core.foreign import is_gcs_notification
from cadenza.core.wiring import (
    RESTORED_FOR_ATTRIBUTE,
    edge_subscription,
    input_topic,
    output_topic,
    uploads_subscription,
)
from cadenza.runtime.pubsub_names import full_path


class StreamingSetupError(ConfigError):
    """A streaming job cannot start: a missing project, topic or subscription."""


@attrs.frozen
class Source:
    """One subscription to read; for upload notifications, the bucket and prefixes kept."""

    subscription: str
    bucket: str | None = None
    prefixes: tuple[str, ...] = ()

    def keeps(self, attributes) -> bool:
        """False for an upload notification outside this source's bucket/prefixes, and
        for a message the local stack restored for another subscription."""
        restored_for = attributes.get(RESTORED_FOR_ATTRIBUTE)
        if restored_for is not None and restored_for != self.subscription:
            return False
        if self.bucket is None or not is_gcs_notification(attributes):
            return True
        name = attributes["objectId"]
        return attributes["bucketId"] == self.bucket and any(
            name.startswith(prefix) for prefix in self.prefixes
        )


def sources(config: JobConfig, project: str, from_upstream: bool = False) -> tuple[Source, ...]:
    """The subscriptions the job streams from (see the module docstring)."""
    found: dict[str, Source] = {}
    if from_upstream:
        inbox = full_path("subscriptions", input_topic(config.job_name), project)
        found[inbox] = Source(inbox)
        for parent in config.upstream:
            path = full_path("subscriptions", edge_subscription(config.job_name, parent), project)
            found[path] = Source(path)
    for event_input in config.events.inputs:
        if isinstance(event_input, PubSubInput):
            path = full_path("subscriptions", event_input.subscription, project)
            found.setdefault(path, Source(path))
        elif isinstance(event_input, GcsNotificationInput):
            name = uploads_subscription(config.job_name, event_input.bucket)
            path = full_path("subscriptions", name, project)
            before = found.get(path, Source(path, event_input.bucket))
            found[path] = attrs.evolve(before, prefixes=(*before.prefixes, event_input.prefix))
    return tuple(found.values())


def output_topics(config: JobConfig, project: str) -> tuple[str, ...]:
    names = [output_topic(config.job_name), *(o.topic for o in config.events.outputs)]
    return tuple(dict.fromkeys(full_path("topics", name, project) for name in names))


def parent_topics(config: JobConfig, project: str) -> tuple[tuple[str, str], ...]:
    """(parent, the parent's input topic) for each parent: where bottom-up requests go."""
    return tuple((p, full_path("topics", input_topic(p), project)) for p in config.upstream)


def dead_letter_topic(config: JobConfig, project: str) -> str | None:
    topic = config.dead_letter.topic
    return full_path("topics", topic, project) if topic else None


def check_exists(subscriptions, topics, doing: str = "stream") -> None:
    """Raises StreamingSetupError naming every subscription or topic that is missing
    ("cannot <doing>: ...")."""
    from google.api_core.exceptions import NotFound
    from google.cloud import pubsub_v1

    missing = []
    subscriber, publisher = pubsub_v1.SubscriberClient(), pubsub_v1.PublisherClient()
    with publisher:  # its channel closed on the way out
        try:
            for subscription in subscriptions:
                try:
                    subscriber.get_subscription(subscription=subscription, timeout=30)
                except NotFound:
                    missing.append(f"subscription {subscription}")
            for topic in topics:
                try:
                    publisher.get_topic(topic=topic, timeout=30)
                except NotFound:
                    missing.append(f"topic {topic}")
        finally:
            subscriber.close()
    if missing:
        raise StreamingSetupError(
            f"cannot {doing}: missing on Pub/Sub: "
            + ", ".join(missing)
            + " (deploying the job, or the local stack, creates them)"
        )
