"""`bazel run //tools:job -- send`: the message each flag makes, its errors, and a job
named by its folder or its job_name (the DAG's sending runs in //tests/dag)."""

import argparse

import pytest
from google.cloud import pubsub_v1

from cadenza.core import decode
from cadenza.core.wiring import input_topic
from cadenza.devtools import jobctl, registry
from cadenza.devtools.emulators import apply_env, restore_env
from cadenza.devtools.job_names import folder_name, job_name
from cadenza.devtools.localstack import LocalStack
from cadenza_fixtures import wait_for


def args(**flags):
    defaults = dict(job="fingerprint", ping=False, force=False, bottom_up=False)
    return argparse.Namespace(**{**defaults, "trigger_children": False, **flags})


def test_top_down_by_default_and_the_flags_carry_over():
    message = jobctl.outgoing_message(args(), "a/b.mp3")
    assert message.element == "a/b.mp3" and message.recipients.is_anyone
    assert message.message_id and message.trace_id == message.message_id
    assert jobctl.outgoing_message(args(ping=True), "x").ping
    assert jobctl.outgoing_message(args(force=True), "x").force


@pytest.mark.parametrize("children", [False, True])
def test_bottom_up_names_only_the_job(children):
    message = jobctl.outgoing_message(args(bottom_up=True, trigger_children=children), "x")
    assert message.recipients.limited and message.recipients.jobs == ("fingerprint",)
    assert message.recipients.trigger_children_of == ("fingerprint" if children else None)


def test_send_needs_a_running_stack_and_sensible_flags(tmp_path, capsys):
    root = ["--stack-root", str(tmp_path / "stack"), "--registry", str(tmp_path / "none.json")]

    def said():
        return " ".join(capsys.readouterr().out.split())

    assert jobctl.main([*root, "send", "fingerprint", "x", "--trigger-children"]) == 2
    assert "--trigger-children goes with --bottom-up" in said()
    assert jobctl.main([*root, "send", "fingerprint", "x"]) == 1
    assert "is not running: deploy fingerprint first" in said()


def test_with_the_registry_an_unknown_or_batch_only_job_is_named(tmp_path, capsys):
    configs = []
    for name, events in (
        ("loudness", "{inputs: [{type: pubsub, subscription: loud}]}"),
        ("audio-info", "{inputs: [{type: listing, location: /in}]}"),
    ):
        path = tmp_path / name / "job.yaml"
        path.parent.mkdir()
        path.write_text(
            f"job_name: {name}\nevents: {events}\n"
            f"data: {{outputs: [{{name: out, location: /out/{name}}}]}}\n"
        )
        configs.append(str(path))
    registry_file = tmp_path / "registry.json"
    assert registry.main(["--output", str(registry_file), *configs]) == 0
    capsys.readouterr()
    root = ["--stack-root", str(tmp_path / "stack"), "--registry", str(registry_file)]
    assert jobctl.main([*root, "send", "loudnes", "x"]) == 1
    said = " ".join(capsys.readouterr().out.split())
    assert "send: no job 'loudnes' in the DAG; did you mean 'loudness'?" in said
    assert jobctl.main([*root, "send", "audio_info", "x"]) == 1
    said = " ".join(capsys.readouterr().out.split())
    assert "audio_info runs in batch only (no Pub/Sub or upload input, no parent)" in said
    assert "run it with bazel run //jobs/audio_info" in said
    assert jobctl.main([*root, "send", "loudness", "x"]) == 1  # known: then the stack
    assert "is not running: deploy loudness first" in " ".join(capsys.readouterr().out.split())


def test_a_job_is_named_by_its_folder_or_its_job_name():
    assert job_name("audio_info") == job_name("audio-info") == "audio-info"
    assert folder_name("audio-info") == folder_name("audio_info") == "audio_info"
    message = jobctl.outgoing_message(args(job="audio_info", bottom_up=True), "x")
    assert message.recipients.jobs == ("audio-info",)


def send(stack, job, element) -> int:
    """`//tools:job send JOB ELEMENT` on `stack`, with no registry to explain failures."""
    return jobctl.main(
        ["--stack-root", str(stack.root), "--registry", "/none.json", "send", job, element]
    )


def test_send_by_folder_reaches_the_jobs_input_topic(tmp_path, capsys):
    stack = LocalStack(tmp_path / "stack")
    assert send(stack, "audio-info", "x") == 1
    assert "(bazel run //jobs/audio_info:deploy)" in " ".join(capsys.readouterr().out.split())
    state, _ = stack.ensure()
    previous = apply_env(state.env)
    try:
        # not deployed (audio-info cannot be: it has no streaming input)
        assert send(stack, "audio-info", "x") == 1
        out = " ".join(capsys.readouterr().out.split())
        assert "deploy audio-info first (bazel run //jobs/audio_info:deploy)" in out
        publisher, subscriber = pubsub_v1.PublisherClient(), pubsub_v1.SubscriberClient()
        topic = publisher.topic_path(state.project, input_topic("audio-info"))
        subscription = subscriber.subscription_path(state.project, "watch-audio-info")
        publisher.create_topic(name=topic)
        subscriber.create_subscription(name=subscription, topic=topic)
        for name in ("audio_info", "audio-info"):
            assert send(stack, name, name) == 0

        def received():
            pulled = subscriber.pull(subscription=subscription, max_messages=10, timeout=5)
            return pulled.received_messages or None

        elements = set()
        while len(elements) < 2:
            pulled = wait_for(received, "the sent messages", timeout_s=30)
            elements |= {decode(m.message.data).element for m in pulled}
        assert elements == {"audio_info", "audio-info"}
    finally:
        restore_env(previous)
        stack.stop()
