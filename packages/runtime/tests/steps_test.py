"""Each lifecycle step alone, on TestPipeline: its good output and its dead letters."""

import pathlib

import apache_beam as beam
import attrs
import pytest
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to
from jobs_for_tests import Describe, make_config, put_input

from cadenza.core import DecodePolicy, Format, Message, Outcome, Recipients, encode
from cadenza.runtime import JobLogic, Result
from cadenza.runtime.lifecycle import (
    CheckRecipients,
    DecodeMessages,
    PassPings,
    RequireInputs,
    RunLogic,
    SkipExistingOutputs,
    WriteOutputs,
)
from cadenza.runtime.lifecycle.logic import MAX_PAYLOAD_BYTES
from cadenza.runtime.lifecycle.records import DEAD_LETTER, FINISHED, PUBLISH, REQUEST
from cadenza.runtime.storage import read_provenance


def pipeline():
    return TestPipeline(runner=FnApiRunner())


def elements(pcoll, label):
    return pcoll | label >> beam.Map(lambda m: m.element)


def outcomes(pcoll, label):
    return pcoll | label >> beam.Map(lambda m: (m.element, m.audit_log[-1].outcome))


def reasons(pcoll, label):
    return pcoll | label >> beam.Map(lambda d: (d.stage, d.reason.split(":")[0]))


def test_decode_good_raw_and_garbage():
    events = [
        encode(Message(element="t1")),
        b"t2",
        (b"", {"eventType": "OBJECT_DELETE", "bucketId": "b", "objectId": "o"}),
        b"\xff\xfe",
    ]
    with pipeline() as p:
        out = (
            p
            | beam.Create(events)
            | DecodeMessages("describe", DecodePolicy({Format.RAW, Format.GCS_NOTIFICATION}))
        )
        assert_that(elements(out["main"], "Els"), equal_to(["t1", "t2"]), label="good")
        assert_that(
            reasons(out[DEAD_LETTER], "Rs"),
            equal_to([("decode", "2 bytes starting b'\\xff\\xfe'")]),
            label="dead",
        )


def test_recipients_and_pings():
    messages = [
        Message(element="anyone"),
        Message(element="mine", recipients=Recipients.only(["describe"])),
        Message(element="theirs", recipients=Recipients.only(["features"])),
        Message(element="ping", ping=True),
    ]
    with pipeline() as p:
        routed = p | beam.Create(messages) | CheckRecipients("describe", "2")
        pinged = routed["main"] | PassPings("describe", "2")
        assert_that(
            outcomes(routed[FINISHED], "F"),
            equal_to([("theirs", Outcome.NOT_RECIPIENT)]),
            label="finished",
        )
        assert_that(
            outcomes(pinged[PUBLISH], "P"), equal_to([("ping", Outcome.PING)]), label="pinged"
        )
        assert_that(elements(pinged["main"], "M"), equal_to(["anyone", "mine"]), label="work")


def test_existing_outputs_skip_unless_forced_or_older_version(tmp_path):
    config = make_config(tmp_path, "reprocess_on_version_change: true")
    (tmp_path / "out").mkdir()
    for element, version in (("done", "2"), ("old", "1")):
        for suffix in (".json", ".bin"):
            path = tmp_path / "out" / f"{element}{suffix}"
            path.write_text("x")
            (tmp_path / "out" / f"{element}{suffix}.provenance.json").write_text(
                f'{{"job_version": "{version}"}}'
            )
    messages = [
        Message(element="done"),
        Message(element="done", force=True),
        Message(element="old"),
        Message(element="new"),
    ]
    with pipeline() as p:
        out = p | beam.Create(messages) | SkipExistingOutputs(config)
        assert_that(
            outcomes(out[PUBLISH], "P"),
            equal_to([("done", Outcome.SKIPPED_OUTPUT_EXISTS)]),
            label="skipped",
        )
        assert_that(elements(out["main"], "M"), equal_to(["done", "old", "new"]), label="work")


def test_outputs_another_job_wrote_are_dead_lettered_naming_it(tmp_path):
    """Two jobs writing the same files: the outputs are not this job's work, and
    skipping would pass over every element without a word."""
    config = make_config(tmp_path)
    (tmp_path / "out").mkdir()
    for element, job in (("theirs", "normalize"), ("mine", "describe")):
        for suffix in (".json", ".bin"):
            (tmp_path / "out" / f"{element}{suffix}").write_text("x")
            (tmp_path / "out" / f"{element}{suffix}.provenance.json").write_text(
                f'{{"job": "{job}"}}'
            )
    messages = [Message(element="theirs"), Message(element="mine")]
    with pipeline() as p:
        out = p | beam.Create(messages) | SkipExistingOutputs(config)
        assert_that(
            outcomes(out[PUBLISH], "P"),
            equal_to([("mine", Outcome.SKIPPED_OUTPUT_EXISTS)]),
            label="skipped",
        )
        dead = out[DEAD_LETTER] | beam.Map(lambda d: (d.element, d.stage, d.reason))
        reason = (
            f"output report ({tmp_path}/out) exists, written by job 'normalize': two jobs "
            "write the same files (check this job's data.outputs locations, and the "
            "variables they come from; if this job was called 'normalize' before, send the "
            "element again with force to rewrite it)"
        )
        assert_that(dead, equal_to([("theirs", "outputs", reason)]), label="dead")


def test_missing_inputs_are_dead_lettered_with_the_path(tmp_path):
    config = make_config(tmp_path)
    put_input(tmp_path, "here")
    with pipeline() as p:
        out = (
            p
            | beam.Create([Message(element="here"), Message(element="gone")])
            | RequireInputs(config)
        )
        assert_that(elements(out["main"], "M"), equal_to(["here"]), label="work")
        missing = out[DEAD_LETTER] | beam.Map(lambda d: (d.element, d.reason))
        expected = f"data input missing: audio ({tmp_path}/in/gone.txt)"
        assert_that(missing, equal_to([("gone", expected)]), label="dead")


def test_bottom_up_messages_ask_the_parent_once_then_dead_letter(tmp_path):
    config = make_config(tmp_path, "upstream: [normalize]")
    put_input(tmp_path, "here")
    bottom_up = Recipients.only(["describe"])
    asked_before = Message(element="waiting", message_id="m3", recipients=bottom_up).with_audit(
        "describe", Outcome.TRIGGERED_PARENT
    )
    messages = [
        Message(element="here", recipients=bottom_up),
        Message(element="gone"),  # top-down: dead-lettered as before
        Message(element="ask", message_id="m2", trace_id="t2", recipients=bottom_up),
        asked_before,  # the parent has not run for it yet: finished, not dead-lettered
        asked_before.with_audit("normalize", Outcome.PROCESSED),  # it ran: dead-lettered
    ]
    with pipeline() as p:
        out = p | beam.Create(messages) | RequireInputs(config, ask_parents=True)
        assert_that(elements(out["main"], "M"), equal_to(["here"]), label="work")
        requests = out[REQUEST] | beam.Map(
            lambda r: (
                r.parents,
                r.message.element,
                r.message.recipients.jobs,
                r.message.trace_id,
                r.message.message_id not in ("", "m2"),
                [(e.job, e.outcome) for e in r.message.audit_log],
            )
        )
        expected = [
            (
                ("normalize",),
                "ask",
                ("describe", "normalize"),
                "t2",
                True,
                [("describe", Outcome.TRIGGERED_PARENT)],
            )
        ]
        assert_that(requests, equal_to(expected), label="requests")
        assert_that(elements(out[FINISHED], "F"), equal_to(["waiting"]), label="waits")
        dead = out[DEAD_LETTER] | beam.Map(lambda d: (d.element, d.reason.split(", still")[-1]))
        assert_that(
            dead,
            equal_to(
                [
                    ("gone", f"data input missing: audio ({tmp_path}/in/gone.txt)"),
                    ("waiting", ", after normalize ran for it (bottom-up)"),
                ]
            ),
            label="dead",
        )


def test_without_ask_parents_bottom_up_messages_are_dead_lettered(tmp_path):
    config = make_config(tmp_path, "upstream: [normalize]")
    message = Message(element="gone", recipients=Recipients.only(["describe"]))
    with pipeline() as p:
        out = p | beam.Create([message]) | RequireInputs(config)
        assert_that(elements(out[DEAD_LETTER], "D"), equal_to(["gone"]), label="dead")
        assert_that(out[REQUEST], equal_to([]), label="no requests")


def test_logic_results_and_failures(tmp_path):
    config = make_config(tmp_path)
    put_input(tmp_path, "ok", "hello")
    put_input(tmp_path, "bad", "fail now")
    with pipeline() as p:
        out = (
            p
            | beam.Create([Message(element="ok"), Message(element="bad")])
            | RunLogic(config, Describe())
        )
        assert_that(
            out["main"] | beam.Map(lambda p: (p.message.element, p.result.outputs["report"])),
            equal_to([("ok", {"element": "ok", "bytes": 5})]),
            label="good",
        )
        dead = out[DEAD_LETTER] | beam.Map(
            lambda d: (d.element, d.stage, d.reason, "Traceback" in d.traceback)
        )
        assert_that(
            dead,
            equal_to([("bad", "logic", "ValueError: input of bad asks to fail", True)]),
            label="dead",
        )


class Paying(JobLogic):
    """Returns the payload its element names."""

    def process(self, ctx):
        payload = {"text": "a str", "huge": b"x" * (MAX_PAYLOAD_BYTES + 1), "ok": b"fine"}
        return Result(outputs={"report": {}, "copy": b""}, payload=payload[ctx.element])


def test_a_payload_that_is_not_bytes_or_too_big_for_pub_sub_is_refused_before_writing(tmp_path):
    config = make_config(tmp_path)
    for element in ("text", "huge", "ok"):
        put_input(tmp_path, element)
    with pipeline() as p:
        out = p | beam.Create([Message(element=e) for e in ("text", "huge", "ok")])
        out = out | RunLogic(config, Paying())
        assert_that(elements(out["main"] | beam.Map(lambda p: p.message), "e"), equal_to(["ok"]))
        dead = out[DEAD_LETTER] | beam.Map(lambda d: (d.element, d.stage, d.reason))
        expected = [
            ("text", "logic", "process() returned a str payload, expected bytes or None"),
            (
                "huge",
                "logic",
                f"process() returned a payload of {MAX_PAYLOAD_BYTES + 1} bytes; at most "
                f"{MAX_PAYLOAD_BYTES} fit in the children's Pub/Sub message "
                "(write it as an output)",
            ),
        ]
        assert_that(dead, equal_to(expected), label="dead")


def test_logic_timeout(tmp_path):
    config = make_config(tmp_path, "execution: {timeout_s: 0.5}")
    put_input(tmp_path, "slow", "sleep 3")
    with pipeline() as p:
        out = p | beam.Create([Message(element="slow")]) | RunLogic(config, Describe())
        assert_that(out["main"], equal_to([]), label="nothing")
        dead = out[DEAD_LETTER] | beam.Map(lambda d: d.reason)
        assert_that(dead, equal_to(["process() took longer than 0.5 s"]), label="dead")


@pytest.mark.parametrize("per_bundle", [False, True])
def test_outputs_are_synced_per_file_or_once_per_bundle(tmp_path, monkeypatch, per_bundle):
    import os

    from cadenza.runtime import Result
    from cadenza.runtime.lifecycle.logic import Produced

    config = make_config(tmp_path)
    elements = ["a", "b", "c"]
    for element in elements:
        put_input(tmp_path, element)
    calls = {"fsync": 0, "sync": 0}
    real_fsync, real_sync = os.fsync, os.sync

    def counted(name, real):
        def call(*args):
            calls[name] += 1
            return real(*args)

        return call

    monkeypatch.setattr(os, "fsync", counted("fsync", real_fsync))
    monkeypatch.setattr(os, "sync", counted("sync", real_sync))
    items = [Produced(Message(element=e), Result(outputs={"report": {"e": e}})) for e in elements]
    with pipeline() as p:
        _ = (
            p
            | beam.Create(items, reshuffle=False)
            | WriteOutputs(config, sync_per_bundle=per_bundle)
        )
    assert sorted(f.name for f in (tmp_path / "out").glob("?.json")) == [
        f"{e}.json" for e in elements
    ]
    # per file: each output (its provenance with it), then its folder (the new name);
    # per bundle: one sync for all of them
    assert calls == ({"fsync": 0, "sync": 1} if per_bundle else {"fsync": 6, "sync": 0})


def test_write_outputs_with_provenance_and_write_failures(tmp_path):
    config = make_config(tmp_path)
    put_input(tmp_path, "ok", "hello")
    put_input(tmp_path, "blocked", "hello")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "blocked.json").mkdir()  # a folder where the file should go
    from cadenza.runtime import Result
    from cadenza.runtime.lifecycle.logic import Produced

    items = [
        Produced(
            Message(element=e, trace_id="tr"),
            Result(outputs={"report": {"e": e}, "copy": b"\x00\x01"}, payload=b"next"),
        )
        for e in ("ok", "blocked")
    ]
    with pipeline() as p:
        out = p | beam.Create(items) | WriteOutputs(config)
        done = out[PUBLISH] | beam.Map(
            lambda m: (m.element, m.payload, m.audit_log[-1].outcome, m.audit_log[-1].job_version)
        )
        assert_that(done, equal_to([("ok", b"next", Outcome.PROCESSED, "2")]), label="done")
        assert_that(
            reasons(out[DEAD_LETTER], "R"),
            equal_to([("write", "writing outputs failed")]),
            label="dead",
        )
    assert (tmp_path / "out" / "ok.json").read_text() == '{"e": "ok"}\n'
    assert (tmp_path / "out" / "ok.bin").read_bytes() == b"\x00\x01"
    record = read_provenance(str(tmp_path / "out" / "ok.json"))
    assert (
        record["job"] == "describe" and record["job_version"] == "2" and record["trace_id"] == "tr"
    )
    assert record["inputs"]["audio"].startswith("sha256:2cf24dba5fb0a30e")
    assert not [p for p in (tmp_path / "out").iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    "copy",
    ["text", {"not json": b"bytes"}, {"rms": float("-inf")}, [float("nan")], pathlib.Path("/no")],
    ids=repr,
)
def test_content_that_cannot_be_written_writes_no_output(tmp_path, copy):
    """All of a message's outputs are converted before the first is written: a bad one
    leaves no half-done result behind."""
    config = make_config(tmp_path)
    put_input(tmp_path, "e", "hello")
    from cadenza.runtime import Result
    from cadenza.runtime.lifecycle.logic import Produced

    item = Produced(Message(element="e"), Result(outputs={"report": {"e": "e"}, "copy": copy}))
    with pipeline() as p:
        out = p | beam.Create([item]) | WriteOutputs(config)
        assert_that(reasons(out[DEAD_LETTER], "R"), equal_to([("write", "writing outputs failed")]))
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())


def test_nan_or_infinity_in_json_content_is_refused_naming_the_output():
    from cadenza.runtime.lifecycle.writing import output_content

    with pytest.raises(ValueError) as err:
        output_content("report", {"rms": float("-inf")})
    assert str(err.value) == (
        "output 'report': Out of range float values are not JSON compliant: "
        "JSON has no NaN or infinity (return None, or a string)"
    )


@pytest.mark.parametrize("bad", [42, None])
def test_run_logic_needs_a_joblogic(tmp_path, bad):
    with pytest.raises(TypeError, match="needs a JobLogic instance"):
        RunLogic(make_config(tmp_path), bad)


def test_an_unexpected_error_in_a_step_dead_letters_the_element(tmp_path):
    config = make_config(tmp_path)
    config = attrs.evolve(
        config,
        data=attrs.evolve(
            config.data, outputs=(attrs.evolve(config.data.outputs[0], location="nosuch://x"),)
        ),
    )
    with pipeline() as p:
        out = p | beam.Create([Message(element="e1")]) | SkipExistingOutputs(config)
        assert_that(out["main"], equal_to([]), label="nothing")
        dead = out[DEAD_LETTER] | beam.Map(
            lambda d: (d.element, d.stage, d.reason.split(":")[0], "Traceback" in d.traceback)
        )
        assert_that(
            dead, equal_to([("e1", "outputs", "unexpected error in outputs", True)]), label="dead"
        )


class _CountsBytes(Describe):
    """Describe, counting the bytes it read; an input "sleep N" counts, then sleeps."""

    def process(self, ctx):
        data = ctx.inputs["audio"].read_bytes()
        ctx.metrics.counter("bytes_seen").inc(len(data))
        ctx.metrics.distribution("sizes").update(len(data))
        return super().process(ctx)


@pytest.mark.parametrize("timeout", ["", "execution: {timeout_s: 1}"])
def test_the_logics_metrics_count_with_or_without_a_timeout_but_not_abandoned_calls(
    tmp_path, timeout
):
    from apache_beam.metrics.metric import MetricsFilter

    config = make_config(tmp_path, timeout)
    put_input(tmp_path, "a", "hello")
    put_input(tmp_path, "b", "hello!")
    put_input(tmp_path, "slow", "sleep 3")
    elements = ["a", "b"] + (["slow"] if timeout else [])
    p = beam.Pipeline(runner=FnApiRunner())
    _ = p | beam.Create([Message(element=e) for e in elements]) | RunLogic(config, _CountsBytes())
    result = p.run()
    result.wait_until_finish()
    query = result.metrics().query(MetricsFilter().with_namespace("cadenza.describe"))
    counted = {c.key.metric.name: c.committed for c in query["counters"]}
    sizes = {d.key.metric.name: d.committed.sum for d in query["distributions"]}
    assert counted["bytes_seen"] == 11, "the abandoned call's count is not in it"
    assert sizes["sizes"] == 11
