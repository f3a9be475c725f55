"""Cadenza's wire format agrees with protobuf's own reading of message_v1.proto.

The schema is built with descriptor_pb2 (there is no protoc here), once as written and
once as a newer Cadenza might extend it, to check that fields an older Cadenza does not
know pass through it to newer readers.
"""

import datetime as dt

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from hypothesis import given
from messages import messages

from cadenza.core._protowire import field_bytes
from cadenza.core.message import Message, Outcome, Recipients
from cadenza.core.wire import HEADER, decode_cadenza, encode

F = descriptor_pb2.FieldDescriptorProto
STRING, BYTES, BOOL, INT64, MESSAGE = (
    F.TYPE_STRING,
    F.TYPE_BYTES,
    F.TYPE_BOOL,
    F.TYPE_INT64,
    F.TYPE_MESSAGE,
)
ONE, MANY = F.LABEL_OPTIONAL, F.LABEL_REPEATED
# (name, number, type, label, message type, proto3 `optional`), as message_v1.proto
V1 = {
    "Message": [
        ("element", 1, STRING, ONE, None, False),
        ("payload", 2, BYTES, ONE, None, True),
        ("force", 3, BOOL, ONE, None, False),
        ("ping", 4, BOOL, ONE, None, False),
        ("recipients", 5, MESSAGE, ONE, "Recipients", True),
        ("audit_log", 6, MESSAGE, MANY, "AuditEntry", False),
        ("message_id", 7, STRING, ONE, None, False),
        ("trace_id", 8, STRING, ONE, None, False),
        ("source", 9, MESSAGE, ONE, "GcsObject", True),
    ],
    "Recipients": [
        ("jobs", 1, STRING, MANY, None, False),
        ("trigger_children_of", 2, STRING, ONE, None, False),
    ],
    "AuditEntry": [
        ("job", 1, STRING, ONE, None, False),
        ("time_us", 2, INT64, ONE, None, False),
        ("outcome", 3, STRING, ONE, None, False),
        ("job_version", 4, STRING, ONE, None, False),
    ],
    "GcsObject": [
        ("bucket", 1, STRING, ONE, None, False),
        ("name", 2, STRING, ONE, None, False),
        ("generation", 3, INT64, ONE, None, False),
    ],
}
# What a newer Cadenza might add: fields version 1 readers do not know.
NEWER = {
    **V1,
    "Message": [
        *V1["Message"],
        ("region", 10, STRING, ONE, None, False),
        ("tags", 11, STRING, MANY, None, False),
        ("priority", 12, INT64, ONE, None, False),
    ],
}


def message_classes(schema: dict) -> dict:
    """The protobuf message classes of `schema`, by name."""
    fd = descriptor_pb2.FileDescriptorProto(
        name="message_v1.proto", package="cadenza.v1", syntax="proto3"
    )
    for name, fields in schema.items():
        m = fd.message_type.add(name=name)
        for field_name, number, kind, label, type_name, optional in fields:
            f = m.field.add(name=field_name, number=number, type=kind, label=label)
            if type_name:
                f.type_name = f".cadenza.v1.{type_name}"
            if optional:
                f.proto3_optional = True
                f.oneof_index = len(m.oneof_decl)
                m.oneof_decl.add(name=f"_{field_name}")
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fd)
    return {
        name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"cadenza.v1.{name}"))
        for name in schema
    }


PB = message_classes(V1)
PB_NEWER = message_classes(NEWER)


def protobuf_reading(data: bytes, classes: dict = PB):
    """A Cadenza message as protobuf reads it (the header removed)."""
    assert data.startswith(HEADER)
    message = classes["Message"]()
    message.ParseFromString(data[len(HEADER) :])
    return message


@given(messages)
def test_protobuf_reads_and_writes_back_exactly_what_cadenza_wrote(message):
    data = encode(message)
    again = protobuf_reading(data).SerializeToString(deterministic=True)
    assert HEADER + again == data
    assert decode_cadenza(HEADER + again) == message


def test_a_newer_jobs_field_passes_through_an_older_job_to_a_newer_reader():
    sent = PB_NEWER["Message"](
        element="track-1", message_id="m", trace_id="t", region="eu", tags=["a", "b"]
    )
    sent.priority = -3
    sent.recipients.jobs.append("features")
    middle = decode_cadenza(HEADER + sent.SerializeToString())  # an older Cadenza's job
    at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    published = middle.with_audit("normalize", Outcome.PROCESSED, at=at).child(force=True)
    received = protobuf_reading(encode(published), PB_NEWER)
    assert (received.region, list(received.tags), received.priority) == ("eu", ["a", "b"], -3)
    assert (received.element, received.force, received.trace_id) == ("track-1", True, "t")
    assert list(received.recipients.jobs) == ["features"]
    assert [(e.job, e.outcome) for e in received.audit_log] == [("normalize", "processed")]


def test_an_older_reader_keeps_unknown_fields_as_protobuf_does():
    sent = PB_NEWER["Message"](element="x", region="eu", priority=7).SerializeToString()
    kept = PB["Message"]()
    kept.ParseFromString(sent)
    assert encode(decode_cadenza(HEADER + sent)) == HEADER + kept.SerializeToString()


@pytest.mark.parametrize(
    "halves",
    [
        [{"jobs": ["a"]}, {"trigger_children_of": "t"}],
        [{"jobs": ["a"], "trigger_children_of": "s"}, {"jobs": ["b"], "trigger_children_of": "t"}],
        [{"jobs": ["a"]}, {}],
    ],
)
def test_recipients_sent_in_parts_merge_as_protobuf_merges_them(halves):
    data = encode(Message(element="x")) + b"".join(
        field_bytes(5, PB["Recipients"](**half).SerializeToString()) for half in halves
    )
    expected = protobuf_reading(data).recipients
    recipients = decode_cadenza(data).recipients
    assert recipients == Recipients.only(expected.jobs, expected.trigger_children_of)


def test_a_source_sent_in_parts_merges_as_protobuf_merges_it():
    parts = [{"bucket": "b", "generation": 5}, {"name": "n"}, {"generation": -2}]
    data = encode(Message(element="x")) + b"".join(
        field_bytes(9, PB["GcsObject"](**part).SerializeToString()) for part in parts
    )
    expected = protobuf_reading(data).source
    source = decode_cadenza(data).source
    assert (source.bucket, source.name, source.generation) == (
        expected.bucket,
        expected.name,
        expected.generation,
    )


@pytest.mark.parametrize(
    "varint", [b"\xff" * 9 + b"\x01", b"\xff" * 9 + b"\x7f", b"\x85" * 9 + b"\x03"]
)
def test_ten_byte_varints_read_as_protobuf_reads_them(varint):
    data = encode(Message(element="x")) + b"\x4a\x0b\x18" + varint  # source.generation
    assert decode_cadenza(data).source.generation == protobuf_reading(data).source.generation


def test_an_empty_trigger_children_of_survives_protobuf():
    message = Message(element="x", recipients=Recipients.only(["a"], ""))
    again = HEADER + protobuf_reading(encode(message)).SerializeToString(deterministic=True)
    assert decode_cadenza(again) == message
