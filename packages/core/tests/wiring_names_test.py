"""Wiring names: two things given one Pub/Sub name fail the plan, both named."""

import pytest

from cadenza.core import Dag, DagError, parse_job_config, plan_wiring


def dag_of(*texts: str) -> Dag:
    return Dag.build(parse_job_config(text) for text in texts)


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (
            [
                "job_name: aaa-from-bbb",
                "job_name: bbb-in\ndata: {outputs: [{name: x, location: /d/x}]}",
                "job_name: aaa\nupstream: [bbb-in]\ndata: {inputs: [{name: x, location: /d/x}]}",
            ],
            "Pub/Sub subscription 'cadenza-aaa-from-bbb-in' would be both the input "
            "subscription of job 'aaa-from-bbb' and the subscription of job 'aaa' to its "
            "upstream 'bbb-in'",
        ),
        (
            [
                "job_name: uploads-photos",
                "job_name: ingest\n"
                "events: {inputs: [{type: gcs_notification, bucket: photos-out}]}",
            ],
            "Pub/Sub topic 'cadenza-uploads-photos-out' would be both the topic of uploads to "
            "bucket 'photos-out' (ingest: events.inputs[0]) and the output topic of job "
            "'uploads-photos'",
        ),
        (
            ["job_name: abc", "job_name: xyz\nevents: {outputs: [{topic: cadenza-abc-out}]}"],
            "Pub/Sub topic 'cadenza-abc-out' would be both the output topic of job 'abc' and "
            "a topic xyz names (events.outputs[0])",
        ),
        (
            [
                "job_name: abc\nevents: {inputs: [{type: pubsub, subscription: feed}]}",
                "job_name: xyz\nevents: {inputs: [{type: pubsub, subscription: feed}]}",
            ],
            "Pub/Sub subscription 'feed' would be both the subscription job 'abc' reads",
        ),
    ],
)
def test_a_name_two_things_share_is_refused_naming_both(texts, message):
    with pytest.raises(DagError) as err:
        plan_wiring(dag_of(*texts))
    assert message in str(err.value)


def test_shared_things_keep_one_name():
    plan = plan_wiring(
        dag_of(
            "job_name: abc\nevents: {inputs: [{type: gcs_notification, bucket: ups, prefix: a/}]"
            ", outputs: [{topic: done}]}",
            "job_name: xyz\nevents: {inputs: [{type: gcs_notification, bucket: ups, prefix: b/}"
            ", {type: gcs_notification, bucket: ups, prefix: c/}], outputs: [{topic: done}]}",
        )
    )
    assert [t.name for t in plan.topics].count("cadenza-uploads-ups") == 1
    assert "done" in [t.name for t in plan.topics]
