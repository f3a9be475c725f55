"""Bucket notifications on Cloud Storage, through its JSON API: the `dataflow` profile's
part of the wiring that the local stack replaces with one server-wide uploads topic.

    rows = apply_notifications(plan, project="my-project")   # storage.Client's API

For each of the plan's bucket notifications: a notification of the bucket that already
sends finalize events to the plan's topic is reported as existing; a bucket without one
gets it (JSON payload, OBJECT_FINALIZE), so applying twice changes nothing. A
notification of the bucket to the same topic that does not send finalize events is a
conflict, left alone; nothing is ever deleted. Cloud Storage publishes as the project's
service agent, which needs `roles/pubsub.publisher` on the topic: one more row says so,
with the agent's address (asked of the API) and the command that grants it.
"""

from __future__ import annotations

from cadenza.core.wiring import WiringPlan
from cadenza.devtools.wiring_apply import CONFLICT, CREATED, EXISTS, Row

FINALIZE = "OBJECT_FINALIZE"
JSON_PAYLOAD = "JSON_API_V1"


def _sends_finalize(notification) -> bool:
    types = notification.event_types
    return not types or FINALIZE in types  # no types: every event


def apply_notifications(plan: WiringPlan, project: str, client=None) -> list[Row]:
    """Creates the plan's missing bucket notifications; one row per bucket, then one per
    topic for the publisher grant (see the module docstring)."""
    if not plan.notifications:
        return []
    from google.cloud import storage

    client = client or storage.Client(project=project)
    rows = []
    for wanted in plan.notifications:
        bucket = client.bucket(wanted.bucket)
        name = f"gs://{wanted.bucket}"
        same_topic = [
            n
            for n in bucket.list_notifications()
            if n.topic_name == wanted.topic and (n.topic_project or project) == project
        ]
        if any(_sends_finalize(n) for n in same_topic):
            rows.append(Row(kind="notification", name=name, status=EXISTS, detail=wanted.topic))
            continue
        if same_topic:
            ids = ", ".join(str(n.notification_id) for n in same_topic)
            detail = f"notification {ids} to {wanted.topic} sends no {FINALIZE}: left alone"
            rows.append(Row(kind="notification", name=name, status=CONFLICT, detail=detail))
            continue
        bucket.notification(
            topic_name=wanted.topic,
            topic_project=project,
            event_types=list(wanted.event_types),
            payload_format=JSON_PAYLOAD,
        ).create()
        detail = f"{','.join(wanted.event_types)} -> {wanted.topic}"
        rows.append(Row(kind="notification", name=name, status=CREATED, detail=detail))
    agent = client.get_service_account_email(project=project)
    for topic in sorted({n.topic for n in plan.notifications}):
        rows.append(
            Row(
                kind="grant",
                name=topic,
                status="needed",
                detail=(
                    f"{agent} publishes the notifications: gcloud pubsub topics "
                    f"add-iam-policy-binding {topic} --project {project} "
                    f"--member serviceAccount:{agent} --role roles/pubsub.publisher"
                ),
            )
        )
    return rows
