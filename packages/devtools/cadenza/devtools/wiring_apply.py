"""Applying a wiring plan to Pub/Sub: create what is missing, report what exists.

    plan = local_plan(job_plan(plan_wiring(dag), dag, "normalize"), UPLOADS_TOPIC)
    rows = apply_plan(plan, project="cadenza-local")     # PUBSUB_EMULATOR_HOST set
    console.print(wiring_table(rows))

Never deletes anything. A subscription that exists on another topic than the plan's
is reported as a conflict and left alone; subscriptions a config names itself
(external) are only checked.

`job_plan` is one job's part of the DAG's plan: the subscriptions it reads, the
topics it publishes to (its own, `events.outputs`, its dead-letter topic, its parents'
input topics for bottom-up requests) and the subscriptions of its children and parents
on them, so a job deployed later finds everything published since.

`local_plan` fits a plan to the local stack, where notifications cannot be configured
per bucket: fake-gcs-server publishes every bucket's uploads to one topic, so each
upload subscription (`cadenza-<job>-uploads-<bucket>`, the name the runtime reads) is
made on that topic instead of `cadenza-uploads-<bucket>`; the runtime acknowledges and
counts, without processing, uploads to other buckets or outside the job's prefixes.
On the local stack the buckets a job uses (the ones it watches, and the gs:// ones of
its data and dead letters) are part of the stack: `ensure_local_buckets` creates the
missing ones on its storage server.
"""

from __future__ import annotations

import attrs
from rich.markup import escape
from rich.table import Table

from cadenza.core.config import JobConfig
from cadenza.core.wiring import (
    BucketNotification,
    Subscription,
    Topic,
    WiringPlan,
    input_topic,
    output_topic,
    plan_wiring,
)

CREATED, EXISTS, MISSING, CONFLICT, PLANNED = "created", "exists", "missing", "conflict", "planned"
ACK_DEADLINE_S = 60


@attrs.frozen(kw_only=True)
class Row:
    """What applying (or planning) one resource did."""

    kind: str  # topic, subscription, notification
    name: str
    status: str
    detail: str = ""


def job_topics(config: JobConfig) -> tuple[str, ...]:
    """Every topic `config`'s job publishes to: dead letters and its requests to its
    parents included."""
    names = [output_topic(config.job_name), *(o.topic for o in config.events.outputs)]
    if config.dead_letter.topic:
        names.append(config.dead_letter.topic)
    names += [input_topic(parent) for parent in config.upstream]
    return tuple(dict.fromkeys(names))


def job_plan(plan: WiringPlan, config: JobConfig) -> WiringPlan:
    """The part of `plan` one job needs (see the module docstring)."""
    publishes = set(job_topics(config))
    subscriptions = tuple(
        s for s in plan.subscriptions if s.job == config.job_name or s.topic in publishes
    )
    wanted = publishes | {s.topic for s in subscriptions if s.topic}
    topics = {t.name: t for t in plan.topics if t.name in wanted}
    if config.dead_letter.topic and config.dead_letter.topic not in topics:
        name = config.dead_letter.topic
        topics[name] = Topic(name=name, purpose=f"dead letters of {config.job_name}")
    notifications = tuple(n for n in plan.notifications if n.topic in wanted)
    return WiringPlan(
        topics=tuple(sorted(topics.values())),
        subscriptions=subscriptions,
        notifications=notifications,
    )


def local_plan(plan: WiringPlan, uploads_topic: str) -> WiringPlan:
    """`plan` on the local stack: upload subscriptions on the stack's one uploads topic."""
    per_bucket = {n.topic for n in plan.notifications}
    subscriptions = tuple(
        attrs.evolve(s, topic=uploads_topic) if s.topic in per_bucket else s
        for s in plan.subscriptions
    )
    topics = [t for t in plan.topics if t.name not in per_bucket]
    if per_bucket:
        topics.append(Topic(name=uploads_topic, purpose="uploads to every bucket (local stack)"))
    notifications = tuple(
        BucketNotification(bucket=n.bucket, topic=uploads_topic, event_types=n.event_types)
        for n in plan.notifications
    )
    return WiringPlan(
        topics=tuple(sorted(topics)),
        subscriptions=tuple(sorted(subscriptions)),
        notifications=notifications,
    )


def pubsub_path(kind: str, name: str, project: str) -> str:
    """The full path of a topic or subscription (`kind`: "topics" or "subscriptions"):
    a name that is one already (`projects/P/topics/T`, as configs may give) is kept."""
    return name if name.startswith("projects/") else f"projects/{project}/{kind}/{name}"


def plan_rows(plan: WiringPlan, *, local: bool = False) -> list[Row]:
    """The plan as rows, nothing applied (for --dry-run)."""
    rows = [Row(kind="topic", name=t.name, status=PLANNED, detail=t.purpose) for t in plan.topics]
    rows += [_subscription_row(s, PLANNED) for s in plan.subscriptions]
    rows += [_notification_row(n, local, PLANNED) for n in plan.notifications]
    return rows


def _subscription_row(sub: Subscription, status: str, extra: str = "") -> Row:
    if sub.external:
        detail = "external: checked, never created"
    else:
        detail = f"on {sub.topic}" + (f", prefix {sub.prefix!r}" if sub.prefix else "")
    return Row(kind="subscription", name=sub.name, status=status, detail=detail + extra)


def _notification_row(note: BucketNotification, local: bool, status: str = EXISTS) -> Row:
    if local:
        return Row(
            kind="notification",
            name=f"gs://{note.bucket}",
            status=status,
            detail=f"the local stack publishes every bucket's uploads to {note.topic}",
        )
    return Row(
        kind="notification",
        name=f"gs://{note.bucket}",
        status=PLANNED,
        detail=f"{','.join(note.event_types)} -> {note.topic}",
    )


def apply_plan(
    plan: WiringPlan,
    project: str,
    *,
    local: bool = True,
    ack_deadline_s: int = ACK_DEADLINE_S,
) -> list[Row]:
    """Creates the plan's missing topics and subscriptions on Pub/Sub (the emulator when
    PUBSUB_EMULATOR_HOST is set); never deletes. One row per resource."""
    from google.api_core.exceptions import AlreadyExists, NotFound
    from google.cloud import pubsub_v1

    publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
    rows: list[Row] = []
    try:
        for topic in plan.topics:
            path = pubsub_path("topics", topic.name, project)
            try:
                publisher.get_topic(topic=path, timeout=30)
                status = EXISTS
            except NotFound:
                try:
                    publisher.create_topic(name=path, timeout=30)
                    status = CREATED
                except AlreadyExists:  # created meanwhile by someone else
                    status = EXISTS
            rows.append(Row(kind="topic", name=topic.name, status=status, detail=topic.purpose))
        for sub in plan.subscriptions:
            path = pubsub_path("subscriptions", sub.name, project)
            try:
                found = subscriber.get_subscription(subscription=path, timeout=30)
            except NotFound:
                found = None
            if found is not None:
                want = pubsub_path("topics", sub.topic, project) if sub.topic else found.topic
                if found.topic != want:
                    rows.append(
                        _subscription_row(sub, CONFLICT, f"; it is on {found.topic}: left alone")
                    )
                else:
                    rows.append(_subscription_row(sub, EXISTS))
                continue
            if sub.external:
                rows.append(_subscription_row(sub, MISSING, "; create it yourself"))
                continue
            try:
                subscriber.create_subscription(
                    request={
                        "name": path,
                        "topic": pubsub_path("topics", sub.topic, project),
                        "ack_deadline_seconds": ack_deadline_s,
                    },
                    timeout=30,
                )
                rows.append(_subscription_row(sub, CREATED))
            except AlreadyExists:
                rows.append(_subscription_row(sub, EXISTS))
    finally:
        subscriber.close()
        transport = getattr(publisher, "transport", None)
        if transport is not None:
            transport.close()
    rows += [_notification_row(n, local) for n in plan.notifications]
    return rows


def job_buckets(config: JobConfig) -> tuple[str, ...]:
    """The buckets a job watches for uploads or keeps data and dead letters in."""
    from cadenza.core.config import GcsNotificationInput

    names = [i.bucket for i in config.events.inputs if isinstance(i, GcsNotificationInput)]
    locations = [d.location for d in (*config.data.inputs, *config.data.outputs)]
    locations.append(config.dead_letter.location or "")
    names += [loc[len("gs://") :].split("/", 1)[0] for loc in locations if loc.startswith("gs://")]
    return tuple(sorted(set(names)))


def ensure_local_buckets(config: JobConfig, project: str) -> list[Row]:
    """Creates the job's missing buckets on the local stack's storage server
    (STORAGE_EMULATOR_HOST); one row per bucket."""
    from google.api_core.exceptions import Conflict
    from google.cloud import storage

    client = storage.Client(project=project)
    rows = []
    for name in job_buckets(config):
        if client.lookup_bucket(name) is not None:
            status = EXISTS
        else:
            try:
                client.create_bucket(name)
                status = CREATED
            except Conflict:  # created meanwhile
                status = EXISTS
        rows.append(Row(kind="bucket", name=f"gs://{name}", status=status, detail="local stack"))
    return rows


STYLES = {CREATED: "green", EXISTS: "cyan", MISSING: "red", CONFLICT: "red", PLANNED: "yellow"}


def wiring_table(rows: list[Row], title: str = "wiring") -> Table:
    """The rows as a rich table; `title` and the rows are plain text, not rich markup."""
    table = Table(title=escape(title))
    # names whole on one line, whatever the width: they are copied into other commands
    longest = max((len(row.name) for row in rows), default=4)
    table.add_column("kind", overflow="fold")
    table.add_column("name", no_wrap=True, min_width=longest)
    table.add_column("status", overflow="fold")
    table.add_column("details", overflow="fold")
    for row in rows:
        style = STYLES.get(row.status, "")
        status = escape(row.status)
        status = f"[{style}]{status}[/{style}]" if style else status
        table.add_row(escape(row.kind), escape(row.name), status, escape(row.detail))
    return table


def job_plan_table(dag, job_name: str) -> Table:
    """The wiring `job_name` needs in the DAG (its `job_plan`), as planned: nothing applied."""
    plan = job_plan(plan_wiring(dag), dag.jobs[job_name])
    return wiring_table(plan_rows(plan), f"wiring for {job_name}")


def problems(rows: list[Row]) -> list[Row]:
    """Rows that keep the job from running: missing external subscriptions, conflicts."""
    return [r for r in rows if r.status in (MISSING, CONFLICT)]


__all__ = [
    "CONFLICT",
    "CREATED",
    "EXISTS",
    "MISSING",
    "PLANNED",
    "Row",
    "apply_plan",
    "job_plan",
    "job_plan_table",
    "job_topics",
    "local_plan",
    "plan_rows",
    "problems",
    "pubsub_path",
    "wiring_table",
]
