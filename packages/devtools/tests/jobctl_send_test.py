"""`cadenza job send`: the message each flag makes, and its errors (the sending itself
runs in //tests/dag, against the deployed DAG)."""

import argparse

import pytest

from cadenza.devtools import jobctl


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
    root = ["--stack-root", str(tmp_path / "stack")]

    def said():
        return " ".join(capsys.readouterr().out.split())

    assert jobctl.main([*root, "send", "fingerprint", "x", "--trigger-children"]) == 2
    assert "--trigger-children goes with --bottom-up" in said()
    assert jobctl.main([*root, "send", "fingerprint", "x"]) == 1
    assert "is not running: deploy fingerprint first" in said()
