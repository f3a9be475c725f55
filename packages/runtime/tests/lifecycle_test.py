"""The whole lifecycle through the test kit: outcomes, audit logs, children's messages;
the fused form (streaming) gives the same outcomes."""

import json
import time

import apache_beam as beam
import attrs
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.util import assert_that, equal_to
from jobs_for_tests import Describe, Flaky, make_config, put_input

from cadenza.core import ConfigError, Message, Outcome, Recipients, encode, parse_job_config
from cadenza.runtime.batch import run_batch
from cadenza.runtime.lifecycle import Carried, FusedLifecycle, Routed
from cadenza.runtime.storage import read_provenance
from cadenza.runtime.testing import dead_letter_reasons, run_lifecycle


def test_every_path_of_the_lifecycle(tmp_path):
    config = make_config(tmp_path)
    for element in ("t1", "t2", "bad"):
        put_input(tmp_path, element, "fail" if element == "bad" else "hello " + element)
    items = [
        "t1",
        Message.new("t2", trace_id="upload-7"),
        "bad",
        "missing",
        Message.new("pinged", ping=True),
        Message.new("other", recipients=Recipients.only(["features"])),
        b"not a message",
    ]
    outcome = run_lifecycle(config, Describe(), items)
    published = {m.element: m for m in outcome.published}
    assert set(published) == {"t1", "t2", "pinged"}
    assert published["t2"].trace_id == "upload-7"
    assert [e.outcome for e in published["t1"].audit_log] == [Outcome.PROCESSED]
    assert published["pinged"].audit_log[-1].outcome == Outcome.PING
    assert [m.element for m in outcome.finished] == ["other"]
    reasons = dead_letter_reasons(outcome)
    assert reasons["bad"] == "ValueError: input of bad asks to fail"
    assert reasons["missing"].startswith("data input missing: audio")
    assert reasons[""].startswith("13 bytes starting b'not a message'")
    assert (tmp_path / "out" / "t2.json").exists() and not (
        tmp_path / "out" / "pinged.json"
    ).exists()


def test_the_logics_log_lines_carry_an_element_holding_percent_signs(tmp_path, caplog):
    config = make_config(tmp_path)
    put_input(tmp_path, "50% mix", "hello")
    caplog.set_level("INFO")
    outcome = run_lifecycle(config, Describe(), [Message.new("50% mix", trace_id="t-1")])
    assert [m.element for m in outcome.published] == ["50% mix"]
    lines = [r.getMessage() for r in caplog.records if "trace=t-1" in r.getMessage()]
    assert lines == ["[describe 50% mix trace=t-1] described 5 bytes"]


def test_a_config_still_holding_templates_is_refused(tmp_path):
    text = "job_name: describe\ndata: {inputs: [{name: audio, location: '${WORK}/in'}]}"
    templated = parse_job_config(text)  # no environment: the templates stay
    with pytest.raises(ConfigError, match=r"data.inputs\[0\].location: '\$\{WORK\}/in'"):
        run_lifecycle(templated, Describe(), ["t1"])
    with pytest.raises(ConfigError, match="still holds"):
        run_batch(templated, Describe(), elements=["t1"], runs_root=str(tmp_path))
    assert not list(tmp_path.iterdir())


def test_second_run_skips_existing_outputs_and_force_redoes_them(tmp_path):
    config = make_config(tmp_path)
    put_input(tmp_path, "t1")
    run_lifecycle(config, Describe(), ["t1"])
    again = run_lifecycle(config, Describe(), ["t1", Message.new("t1", force=True)])
    assert sorted(m.audit_log[-1].outcome.value for m in again.published) == [
        "processed",
        "skipped-output-exists",
    ]


def test_the_same_message_sent_again_forced_or_to_a_new_version_redoes_its_outputs(tmp_path):
    # ids derived from an upload or a parent's message repeat: a message's id alone
    # cannot tell its redelivery from the same message sent again, and the work is redone
    report = tmp_path / "out" / "t1.json"
    put_input(tmp_path, "t1", "hello")
    forced = Message.new("t1", force=True)
    run_lifecycle(make_config(tmp_path), Describe(), [forced])
    put_input(tmp_path, "t1", "hello again")
    run_lifecycle(make_config(tmp_path), Describe(), [forced])
    assert json.loads(report.read_text())["bytes"] == len("hello again")
    same = Message.new("t2")
    put_input(tmp_path, "t2", "v2 input")
    run_lifecycle(make_config(tmp_path), Describe(), [same])  # version "2"
    newer = attrs.evolve(make_config(tmp_path, "reprocess_on_version_change: true"), version="3")
    (done,) = run_lifecycle(newer, Describe(), [same]).published
    assert done.audit_log[-1].outcome == Outcome.PROCESSED
    assert read_provenance(str(tmp_path / "out" / "t2.json"))["job_version"] == "3"


class Paying(Describe):
    """Describe, returning a payload for the children."""

    def process(self, ctx):
        return attrs.evolve(super().process(ctx), payload=b"made with the outputs")


def test_a_skipped_message_goes_on_with_the_payload_made_with_the_outputs(tmp_path):
    config = make_config(tmp_path)
    put_input(tmp_path, "t1")
    run_lifecycle(config, Paying(), ["t1"])
    later = Message.new("t1", payload=b"from upstream")  # another message, outputs exist
    (skipped,) = run_lifecycle(config, Paying(), [later]).published
    assert skipped.audit_log[-1].outcome == Outcome.SKIPPED_OUTPUT_EXISTS
    assert skipped.payload == b"made with the outputs"


def test_bottom_up_target_releases_its_children(tmp_path):
    config = make_config(tmp_path)
    put_input(tmp_path, "t1")
    message = Message.new(
        "t1", recipients=Recipients.only(["describe"], trigger_children_of="describe")
    )
    outcome = run_lifecycle(config, Describe(), [message])
    (child,) = outcome.published
    assert child.recipients.is_anyone
    assert child.trace_id == message.trace_id and child.message_id != message.message_id


def test_transient_errors_are_retried_then_dead_lettered(tmp_path):
    config = make_config(tmp_path, "execution: {retries: 2, retry_backoff_s: 0.01}")
    put_input(tmp_path, "t1")
    assert [m.element for m in run_lifecycle(config, Flaky(failures=2), ["t1"]).published] == ["t1"]
    put_input(tmp_path, "t2")
    outcome = run_lifecycle(config, Flaky(failures=3), ["t2"])
    assert dead_letter_reasons(outcome) == {
        "t2": "transient error, 3 attempt(s): ConnectionError: attempt 3 refused"
    }


def test_a_result_after_its_timeout_is_never_written(tmp_path):
    config = make_config(tmp_path, "execution: {timeout_s: 0.3}")
    put_input(tmp_path, "late", "sleep 1.0")
    outcome = run_lifecycle(config, Describe(), ["late"])
    assert dead_letter_reasons(outcome) == {"late": "process() took longer than 0.3 s"}
    time.sleep(1.5)  # the logic's thread has finished by now
    assert not (tmp_path / "out" / "late.json").exists()


def test_fused_steps_give_the_same_outcomes_and_keep_tokens(tmp_path):
    config = make_config(tmp_path, "events: {accept: [gcs_notification]}")
    for element in ("t1", "bad"):
        put_input(tmp_path, element, "fail" if element == "bad" else "hello")
    items = [
        "t1",
        "bad",
        "missing",
        Message.new("other", recipients=Recipients.only(["features"])),
        (b"", {"eventType": "OBJECT_DELETE", "bucketId": "b", "objectId": "o"}),  # ignored
        b"not a message",
    ]
    events = [encode(Message.new(i)) if isinstance(i, str) else i for i in items]
    events = [encode(i) if isinstance(i, Message) else i for i in events]
    with beam.Pipeline(runner=FnApiRunner()) as p:
        routed = (
            p
            | beam.Create([Carried(f"token-{n}", e) for n, e in enumerate(events)])
            | FusedLifecycle(config, Describe())
        )

        def summary(r: Routed):
            value = r.value.value
            element = getattr(value, "element", None) if value is not None else None
            return (r.value.token, r.tag, element)

        assert_that(
            routed | beam.Map(summary),
            equal_to(
                [
                    ("token-0", "publish", "t1"),
                    ("token-1", "dead_letter", "bad"),
                    ("token-2", "dead_letter", "missing"),
                    ("token-3", "finished", "other"),
                    ("token-4", "finished", None),
                    ("token-5", "dead_letter", None),
                ]
            ),
        )
