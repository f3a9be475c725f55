"""Applying wiring plans: the job's part, the local form, and on the real Pub/Sub emulator
created / exists / missing (external) / conflict, never deleting."""

import io
import uuid

from google.cloud import pubsub_v1
from rich.console import Console

from cadenza.core import parse_job_config, plan_wiring
from cadenza.core.dag import Dag
from cadenza.devtools.wiring_apply import (
    CONFLICT,
    CREATED,
    EXISTS,
    MISSING,
    Row,
    apply_plan,
    job_plan,
    local_plan,
    problems,
    wiring_table,
)


def config(text):
    return parse_job_config(text, env={})


def dag(suffix=""):
    return Dag.build(
        [
            config(
                f"""
job_name: norm{suffix}
events: {{inputs: [{{type: gcs_notification, bucket: raw{suffix}, prefix: new/}}]}}
dead_letter: {{topic: dead{suffix}}}
data: {{outputs: [{{name: audio, location: /tmp/n{suffix}, suffix: .flac}}]}}
"""
            ),
            config(
                f"job_name: feat{suffix}\nupstream: [norm{suffix}]\n"
                f"data: {{inputs: [{{name: audio, location: /tmp/n{suffix}, suffix: .flac}}]}}\n"
            ),
            config(
                f"job_name: other{suffix}\n"
                f"events: {{inputs: [{{type: pubsub, subscription: ext{suffix}}}]}}\n"
            ),
        ]
    )


def test_a_jobs_part_has_its_inputs_outputs_dead_letters_and_childrens_subscriptions():
    graph = dag()
    plan = job_plan(plan_wiring(graph), graph.jobs["norm"])
    assert [t.name for t in plan.topics] == [
        "cadenza-norm-in",
        "cadenza-norm-out",
        "cadenza-uploads-raw",
        "dead",
    ]
    assert [s.name for s in plan.subscriptions] == [
        "cadenza-feat-from-norm",
        "cadenza-norm-in",
        "cadenza-norm-uploads-raw",
    ]
    local = local_plan(plan, "cadenza-uploads")
    assert [t.name for t in local.topics] == [
        "cadenza-norm-in",
        "cadenza-norm-out",
        "cadenza-uploads",
        "dead",
    ]
    uploads = {s.name: s.topic for s in local.subscriptions}
    assert uploads["cadenza-norm-uploads-raw"] == "cadenza-uploads"
    assert [n.topic for n in local.notifications] == ["cadenza-uploads"]


def test_a_childs_part_has_its_parents_input_topic_for_bottom_up_requests():
    graph = dag()
    plan = job_plan(plan_wiring(graph), graph.jobs["feat"])
    assert [t.name for t in plan.topics] == [
        "cadenza-feat-in",
        "cadenza-feat-out",
        "cadenza-norm-in",
        "cadenza-norm-out",  # its edge subscription's topic
    ]
    assert [s.name for s in plan.subscriptions] == [
        "cadenza-feat-from-norm",
        "cadenza-feat-in",
        "cadenza-norm-in",
    ]


def test_apply_creates_then_reports_existing_and_never_deletes(emulators):
    suffix = uuid.uuid4().hex[:6]
    graph = dag(suffix)
    plan = local_plan(plan_wiring(graph), emulators.uploads_topic)
    first = {(r.kind, r.name): r.status for r in apply_plan(plan, emulators.project)}
    assert first[("topic", f"cadenza-norm{suffix}-out")] == CREATED
    assert first[("subscription", f"cadenza-feat{suffix}-from-norm{suffix}")] == CREATED
    assert first[("topic", emulators.uploads_topic)] == EXISTS  # the stack made it
    assert first[("subscription", f"ext{suffix}")] == MISSING  # external: never created
    assert [r.name for r in problems(apply_plan(plan, emulators.project))] == [f"ext{suffix}"]

    subscriber = pubsub_v1.SubscriberClient()
    try:
        project = emulators.project
        subscriber.create_subscription(
            name=f"projects/{project}/subscriptions/ext{suffix}",
            topic=f"projects/{project}/topics/cadenza-norm{suffix}-out",
        )
        # someone made the upload subscription on another topic: reported, left alone
        clash = f"projects/{project}/subscriptions/cadenza-norm{suffix}-uploads-raw{suffix}"
        subscriber.delete_subscription(subscription=clash)
        subscriber.create_subscription(
            name=clash, topic=f"projects/{project}/topics/cadenza-feat{suffix}-out"
        )
        again = {(r.kind, r.name): r.status for r in apply_plan(plan, project)}
        assert again.pop(("subscription", f"cadenza-norm{suffix}-uploads-raw{suffix}")) == CONFLICT
        assert set(again.values()) == {EXISTS}
        topic = subscriber.get_subscription(subscription=clash).topic
        assert topic.endswith(f"cadenza-feat{suffix}-out")
    finally:
        subscriber.close()


def test_the_wiring_table_shows_names_and_details_as_they_are():
    rows = [Row(kind="subscription", name="s[1]", status=CREATED, detail="prefix '[live]/'")]
    out = Console(file=io.StringIO(), width=200)
    out.print(wiring_table(rows, "wiring for j[x]"))
    printed = out.file.getvalue()
    assert "wiring for j[x]" in printed and "s[1]" in printed and "prefix '[live]/'" in printed
