"""The wiring plan: every topic, subscription and bucket notification the DAG needs.

Names are deterministic, so applying a plan twice changes nothing:

- each job publishes to its own topic `cadenza-<job>-out`, plus the topics its config
  lists under `events.outputs`;
- each job reads messages sent to it directly (a child's bottom-up request for a
  missing input, a ping, a forced rerun: `bazel run //tools:job -- send`) from its input topic
  `cadenza-<job>-in` through the subscription of the same name;
- each edge parent -> child is a subscription `cadenza-<child>-from-<parent>` on the
  parent's topic;
- each bucket some job watches for uploads (`events.inputs: gcs_notification`) sends
  its upload notifications to `cadenza-uploads-<bucket>`, and each such job reads them
  through `cadenza-<job>-uploads-<bucket>`, keeping only objects under its prefix;
- subscriptions a config names itself (`events.inputs: pubsub`) are external: the plan
  lists them so deploy can check they exist, and never creates them.

>>> from cadenza.core.config import parse_job_config
>>> from cadenza.core.dag import Dag
>>> job = parse_job_config('''
... job_name: normalize
... events: {inputs: [{type: gcs_notification, bucket: uploads, prefix: new/}]}
... ''')
>>> plan = plan_wiring(Dag.build([job]))
>>> [t.name for t in plan.topics]
['cadenza-normalize-in', 'cadenza-normalize-out', 'cadenza-uploads-uploads']
>>> [s.name for s in plan.subscriptions]
['cadenza-normalize-in', 'cadenza-normalize-uploads-uploads']
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import attrs

from cadenza.core.config import GcsNotificationInput, PubSubInput

if TYPE_CHECKING:
    from cadenza.core.dag import Dag


#: On a message the local stack published again after a restart: the subscription it
#: was waiting in (cadenza.devtools.pending); the topic's other subscriptions skip it.
RESTORED_FOR_ATTRIBUTE = "cadenza_restored_for"


def output_topic(job: str) -> str:
    return f"cadenza-{job}-out"


def input_topic(job: str) -> str:
    """Messages sent to `job` itself; its subscription has the same name."""
    return f"cadenza-{job}-in"


def edge_subscription(child: str, parent: str) -> str:
    return f"cadenza-{child}-from-{parent}"


def uploads_topic(bucket: str) -> str:
    return f"cadenza-uploads-{bucket}"


def uploads_subscription(job: str, bucket: str) -> str:
    return f"cadenza-{job}-uploads-{bucket}"


@attrs.frozen(kw_only=True, order=True)
class Topic:
    name: str
    purpose: str


@attrs.frozen(kw_only=True, order=True)
class Subscription:
    name: str
    topic: str
    job: str
    prefix: str = ""  # for upload subscriptions: the job's object prefix
    external: bool = False  # named in a config: checked, never created


@attrs.frozen(kw_only=True, order=True)
class BucketNotification:
    bucket: str
    topic: str
    event_types: tuple[str, ...] = ("OBJECT_FINALIZE",)


@attrs.frozen(kw_only=True)
class WiringPlan:
    topics: tuple[Topic, ...]
    subscriptions: tuple[Subscription, ...]
    notifications: tuple[BucketNotification, ...]

    def for_job(self, job: str) -> tuple[Subscription, ...]:
        """The subscriptions `job` reads from."""
        return tuple(s for s in self.subscriptions if s.job == job)


def plan_wiring(dag: Dag) -> WiringPlan:
    """The plan for the whole DAG, sorted by name; DagError when two things would get
    one name (cadenza.core.wiring_names)."""
    from cadenza.core.wiring_names import check_wiring_names  # it builds on the names here

    check_wiring_names(dag)
    topics: dict[str, Topic] = {}
    subscriptions: dict[str, Subscription] = {}
    notifications: dict[str, BucketNotification] = {}
    for name in dag.topological_order():
        config = dag.jobs[name]
        topics[output_topic(name)] = Topic(name=output_topic(name), purpose=f"output of {name}")
        inbox = input_topic(name)
        topics[inbox] = Topic(name=inbox, purpose=f"messages sent to {name}")
        subscriptions[inbox] = Subscription(name=inbox, topic=inbox, job=name)
        for out in config.events.outputs:
            topics.setdefault(out.topic, Topic(name=out.topic, purpose=f"extra output of {name}"))
        for parent in config.upstream:
            sub = edge_subscription(name, parent)
            subscriptions[sub] = Subscription(name=sub, topic=output_topic(parent), job=name)
        for event_input in config.events.inputs:
            if isinstance(event_input, GcsNotificationInput):
                bucket = event_input.bucket
                topic = uploads_topic(bucket)
                topics.setdefault(topic, Topic(name=topic, purpose=f"uploads to {bucket}"))
                notifications.setdefault(bucket, BucketNotification(bucket=bucket, topic=topic))
                sub = uploads_subscription(name, bucket)
                subscriptions[sub] = Subscription(
                    name=sub, topic=topic, job=name, prefix=event_input.prefix
                )
            elif isinstance(event_input, PubSubInput):
                sub = event_input.subscription
                subscriptions.setdefault(
                    sub, Subscription(name=sub, topic="", job=name, external=True)
                )
    return WiringPlan(
        topics=tuple(sorted(topics.values())),
        subscriptions=tuple(sorted(subscriptions.values())),
        notifications=tuple(sorted(notifications.values())),
    )
