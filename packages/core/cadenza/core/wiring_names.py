"""The wiring's Pub/Sub names, checked: one name never stands for two things.

`plan_wiring` (cadenza.core.wiring) builds names by joining job names, parents and
buckets with '-', which they may contain themselves, so two things can get one name:
job `aaa-from-bbb`'s input subscription and the subscription of job `aaa` to its
upstream `bbb-in` are both `cadenza-aaa-from-bbb-in`. `check_wiring_names(dag)` raises
DagError naming both things; `plan_wiring(dag)` runs it first, so no plan ever gives
one name to two things.

    plan_wiring(dag)    # DagError: Pub/Sub topic 'cadenza-uploads-photos-out' would be
                        # both the output topic of job 'uploads-photos' and the topic of
                        # uploads to bucket 'photos-out' (ingest: events.inputs[0]); ...
"""

from __future__ import annotations

from cadenza.core.config import GcsNotificationInput, PubSubInput
from cadenza.core.dag import Dag, DagError
from cadenza.core.wiring import (
    edge_subscription,
    input_topic,
    output_topic,
    uploads_subscription,
    uploads_topic,
)


def _claims(dag: Dag):
    """(kind, name, identity, description) for every topic and subscription of the DAG."""
    for job in dag.topological_order():
        config = dag.jobs[job]
        yield "topic", output_topic(job), ("out", job), f"the output topic of job {job!r}"
        yield "topic", input_topic(job), ("in", job), f"the input topic of job {job!r}"
        yield (
            "subscription",
            input_topic(job),
            ("in", job),
            f"the input subscription of job {job!r}",
        )
        for parent in config.upstream:
            yield (
                "subscription",
                edge_subscription(job, parent),
                ("edge", job, parent),
                f"the subscription of job {job!r} to its upstream {parent!r}",
            )
        for i, output in enumerate(config.events.outputs):
            name = output.topic.rsplit("/", 1)[-1]
            yield "topic", name, ("named", name), f"a topic {job} names (events.outputs[{i}])"
        if config.dead_letter.topic:
            name = config.dead_letter.topic.rsplit("/", 1)[-1]
            yield "topic", name, ("named", name), f"a topic {job} names (dead_letter.topic)"
        for i, event_input in enumerate(config.events.inputs):
            where = f"({job}: events.inputs[{i}])"
            if isinstance(event_input, GcsNotificationInput):
                bucket = event_input.bucket
                yield (
                    "topic",
                    uploads_topic(bucket),
                    ("uploads", bucket),
                    f"the topic of uploads to bucket {bucket!r} {where}",
                )
                yield (
                    "subscription",
                    uploads_subscription(job, bucket),
                    ("uploads", job, bucket),
                    f"the subscription of job {job!r} to uploads to bucket {bucket!r}",
                )
            elif isinstance(event_input, PubSubInput):
                name = event_input.subscription.rsplit("/", 1)[-1]
                yield (
                    "subscription",
                    name,
                    ("named", job, name),
                    f"the subscription job {job!r} reads {where}",
                )


def check_wiring_names(dag: Dag) -> None:
    """Raises DagError, naming both, for every topic or subscription name two things share."""
    seen: dict[tuple[str, str], tuple[tuple, str]] = {}
    problems = []
    for kind, name, identity, description in _claims(dag):
        first = seen.setdefault((kind, name), (identity, description))
        if first[0] != identity:
            problem = (
                f"Pub/Sub {kind} {name!r} would be both {first[1]} and {description}; "
                "rename one of them"
            )
            if problem not in problems:
                problems.append(problem)
    if problems:
        raise DagError("\n".join(problems))


__all__ = ["check_wiring_names"]
