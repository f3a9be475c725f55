"""Wiring names: two things given one Pub/Sub name fail the plan and the registry, named."""

import pytest

from cadenza.core import Dag, DagError, parse_job_config
from cadenza.devtools import registry
from cadenza.devtools.wiring_names import checked_plan


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
        checked_plan(dag_of(*texts))
    assert message in str(err.value)


def test_shared_things_keep_one_name():
    plan = checked_plan(
        dag_of(
            "job_name: abc\nevents: {inputs: [{type: gcs_notification, bucket: ups, prefix: a/}]"
            ", outputs: [{topic: done}]}",
            "job_name: xyz\nevents: {inputs: [{type: gcs_notification, bucket: ups, prefix: b/}"
            ", {type: gcs_notification, bucket: ups, prefix: c/}], outputs: [{topic: done}]}",
        )
    )
    assert [t.name for t in plan.topics].count("cadenza-uploads-ups") == 1
    assert "done" in [t.name for t in plan.topics]


def test_the_registry_build_fails_on_a_shared_name(tmp_path, capsys):
    paths = []
    for name, text in {
        "a": "job_name: uploads-photos\n",
        "b": "job_name: ingest\nevents: {inputs: [{type: gcs_notification, bucket: photos-out}]}\n",
    }.items():
        paths.append(tmp_path / f"{name}.yaml")
        paths[-1].write_text(text)
    output = tmp_path / "registry.json"
    assert registry.main(["--output", str(output), *map(str, paths)]) == 1
    assert "'cadenza-uploads-photos-out' would be both" in capsys.readouterr().err
    assert not output.exists()
