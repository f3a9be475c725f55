"""Decoding event inputs: the documented order, each foreign format, and garbage."""

import datetime as dt
import json
import os
import pathlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from messages import GOLDEN_V1

from cadenza.core._protowire import field_bytes, field_varint
from cadenza.core.decode import DecodePolicy, Format, decode
from cadenza.core.errors import MessageDecodeError, NotAnUploadEvent
from cadenza.core.message import GcsObject, Outcome, Recipients
from cadenza.core.wire import HEADER, encode

KLIO_DIR = pathlib.Path(__file__).parent / "testdata" / "klio"
EVERYTHING = DecodePolicy(accept=set(Format))
FINALIZE = {
    "eventType": "OBJECT_FINALIZE",
    "bucketId": "uploads",
    "objectId": "incoming/track-77.flac",
    "objectGeneration": "1732700000123456",
    "payloadFormat": "JSON_API_V1",
}


def test_cadenza_messages_need_no_policy():
    assert decode(encode(GOLDEN_V1["bottom_up_audited"])) == GOLDEN_V1["bottom_up_audited"]


def test_cadenza_header_wins_over_every_foreign_format():
    data = encode(GOLDEN_V1["minimal"])
    assert decode(data, FINALIZE, EVERYTHING) == GOLDEN_V1["minimal"]


@pytest.mark.parametrize("name", ["top_down", "bottom_up_with_everything", "no_recipients_set"])
def test_klio_golden_messages_from_klios_own_package(name):
    expected = json.loads((KLIO_DIR / f"{name}.json").read_text())
    message = decode((KLIO_DIR / f"{name}.bin").read_bytes(), policy=DecodePolicy({Format.KLIO}))
    assert message.element == expected["element"]
    payload = expected["payload"]
    assert message.payload == (bytes.fromhex(payload) if payload else None)
    assert (message.force, message.ping) == (expected["force"], expected["ping"])
    r = expected["recipients"]
    assert message.recipients == (
        Recipients.only(r["jobs"], r["trigger_children_of"])
        if r["limited"]
        else Recipients.anyone()
    )
    assert [(e.job, e.at.isoformat(), e.outcome) for e in message.audit_log] == [
        (job, at, Outcome.KLIO) for job, at in expected["audit_log"]
    ]
    assert message.message_id.startswith("klio-") and message.trace_id == message.message_id


def test_klio_v1_messages_are_refused_with_the_reason():
    data = (KLIO_DIR / "v1_entity_id.bin").read_bytes()
    with pytest.raises(MessageDecodeError, match="only version 2"):
        decode(data, policy=DecodePolicy({Format.KLIO}))


def test_klio_bytes_are_refused_unless_the_job_accepts_klio():
    data = (KLIO_DIR / "top_down.bin").read_bytes()
    with pytest.raises(MessageDecodeError, match="accepts no other format"):
        decode(data)


def test_gcs_finalize_notification_names_the_object():
    message = decode(
        b'{"kind": "storage#object"}', FINALIZE, DecodePolicy({Format.GCS_NOTIFICATION})
    )
    assert message.element == "incoming/track-77.flac"
    assert message.source == GcsObject(
        bucket="uploads", name="incoming/track-77.flac", generation=1732700000123456
    )
    again = decode(b"", FINALIZE, DecodePolicy({Format.GCS_NOTIFICATION}))
    assert again.trace_id == message.trace_id, "the same upload must give the same trace"


def test_gcs_notifications_that_are_not_uploads_say_so():
    folder = {**FINALIZE, "objectId": "incoming/new folder/"}
    with pytest.raises(NotAnUploadEvent, match="incoming/new folder/: a folder placeholder"):
        decode(b"", folder, DecodePolicy({Format.GCS_NOTIFICATION}))
    deleted = {**FINALIZE, "eventType": "OBJECT_DELETE"}
    with pytest.raises(NotAnUploadEvent, match="OBJECT_DELETE for gs://uploads/incoming"):
        decode(b"", deleted, EVERYTHING)


def test_gcs_notification_with_a_bad_generation():
    with pytest.raises(MessageDecodeError, match="objectGeneration 'soon' is not an integer"):
        decode(
            b"", {**FINALIZE, "objectGeneration": "soon"}, DecodePolicy({Format.GCS_NOTIFICATION})
        )


def test_raw_bytes_become_the_element_when_allowed():
    message = decode(b"  track-123\n", policy=DecodePolicy({Format.RAW}))
    assert message.element == "track-123"
    assert message.recipients.is_anyone and message.payload is None
    assert decode(b"track-123", policy=DecodePolicy({Format.RAW})).trace_id != message.trace_id


def test_order_klio_before_raw():
    data = (KLIO_DIR / "top_down.bin").read_bytes()
    assert decode(data, policy=EVERYTHING).element == "track-0001"


@pytest.mark.parametrize(
    ("data", "policy", "reason"),
    [
        (b"", DecodePolicy(), "0 bytes starting b''"),
        (b"", DecodePolicy({Format.RAW}), "raw element is empty"),
        (b"\xff\xfe\x00", DecodePolicy({Format.RAW}), "raw element is not UTF-8"),
        (b"a\x00b", DecodePolicy({Format.RAW}), "control characters"),
        (b"x" * 5000, DecodePolicy({Format.RAW}), "longer than 4096 bytes"),
        (b"\x1a\x02\x08", DecodePolicy({Format.KLIO}), "not a Klio v2 message"),
        (b"\x0a\x00\x12\x00", DecodePolicy({Format.KLIO}), "version 0"),
        (b"garbage", DecodePolicy({Format.GCS_NOTIFICATION}), "no storage notification attributes"),
    ],
)
def test_garbage_is_refused_naming_what_arrived(data, policy, reason):
    with pytest.raises(MessageDecodeError) as err:
        decode(data, policy=policy)
    assert reason in str(err.value)
    assert str(err.value).startswith(f"{len(data)} bytes starting {data[:16]!r}")


def test_huge_garbage_is_refused_quickly_with_its_length():
    data = os.urandom(1 << 20)
    with pytest.raises(MessageDecodeError, match=f"^{1 << 20} bytes starting"):
        decode(data, policy=DecodePolicy({Format.KLIO, Format.GCS_NOTIFICATION}))


@given(st.binary(max_size=300))
def test_random_bytes_decode_or_raise_only_decode_errors(data):
    try:
        message = decode(data, {}, EVERYTHING)
    except MessageDecodeError:
        return
    assert message.element


def test_not_bytes():
    with pytest.raises(MessageDecodeError, match="expected bytes, got str"):
        decode("track-1")


def test_audit_times_are_utc():
    message = decode((KLIO_DIR / "bottom_up_with_everything.bin").read_bytes(), policy=EVERYTHING)
    assert all(e.at.tzinfo == dt.UTC for e in message.audit_log)


def klio_message(element: bytes, metadata: bytes = b"") -> bytes:
    """A Klio v2 KlioMessage with this element (data.element) and metadata bytes."""
    return field_bytes(1, metadata) + field_bytes(2, field_bytes(3, element)) + field_varint(3, 2)


def each_format(element: bytes) -> list[tuple[bytes, dict | None, DecodePolicy]]:
    """`element` as every decoder receives one: (data, attributes, policy)."""
    gcs = {**FINALIZE, "objectId": element.decode()}
    return [
        (HEADER + field_bytes(1, element), None, DecodePolicy()),
        (element, None, DecodePolicy({Format.RAW})),
        (b"", gcs, DecodePolicy({Format.GCS_NOTIFICATION})),
        (klio_message(element), None, DecodePolicy({Format.KLIO})),
    ]


@pytest.mark.parametrize(
    ("element", "reason"),
    [
        (b"../secret/x", "has a '..' path segment"),
        (b"incoming/../../x", "has a '..' path segment"),
        (b"..", "has a '..' path segment"),
        (b"a/./b", "has a '.' path segment"),
        (b".", "has a '.' path segment"),
        (b"/etc/passwd", "starts with '/'"),
    ],
)
def test_every_decoder_refuses_an_element_that_would_leave_its_data_locations(element, reason):
    for data, attributes, policy in each_format(element):
        with pytest.raises(MessageDecodeError, match=f"^{len(data)} bytes starting") as err:
            decode(data, attributes, policy)
        assert reason in str(err.value), (policy, str(err.value))


def test_every_decoder_refuses_an_element_with_a_nul_character():
    for data, attributes, policy in each_format(b"a\x00b"):
        with pytest.raises(MessageDecodeError) as err:
            decode(data, attributes, policy)
        assert "NUL character" in str(err.value) or "control characters" in str(err.value)


@pytest.mark.parametrize(
    "element", ["2024/track-1", "mix [/dub]", "a..b/.hidden", "https://x/a.mp3"]
)
def test_every_decoder_reads_elements_with_slashes_between_names(element):
    for data, attributes, policy in each_format(element.encode()):
        assert decode(data, attributes, policy).element == element


def test_klio_timestamps_out_of_datetime_range_are_refused_naming_the_field():
    timestamp = field_bytes(1, field_varint(1, 2**40))  # seconds: a valid int64
    data = klio_message(b"t", field_bytes(3, timestamp))
    with pytest.raises(MessageDecodeError, match=r"job_audit_log\.timestamp: 1099511627776 s"):
        decode(data, policy=DecodePolicy({Format.KLIO}))


def test_klio_embedded_messages_sent_twice_are_merged():
    def job(name):
        return field_bytes(1, name)

    limited = [field_bytes(1, job(b"a")), field_bytes(2, job(b"t"))]  # in two halves
    recipients = b"".join(field_bytes(6, field_bytes(2, half)) for half in limited)
    item = field_bytes(1, field_varint(1, 60)) + field_bytes(1, field_varint(2, 5_000_000))
    data = (
        field_bytes(1, recipients)
        + field_bytes(1, field_varint(4, 1) + field_bytes(3, item + field_bytes(2, job(b"j"))))
        + field_bytes(2, field_bytes(3, b"track-1"))
        + field_bytes(2, field_bytes(2, b"state"))
        + field_varint(3, 2)
    )
    message = decode(data, policy=DecodePolicy({Format.KLIO}))
    assert (message.element, message.payload, message.force) == ("track-1", b"state", True)
    assert message.recipients == Recipients.only(["a"], "t")
    [entry] = message.audit_log
    assert (entry.job, entry.at) == ("j", dt.datetime(1970, 1, 1, 0, 1, 0, 5000, tzinfo=dt.UTC))


def test_gcs_notification_with_a_generation_beyond_int64():
    attributes = {**FINALIZE, "objectGeneration": str(2**63)}
    with pytest.raises(MessageDecodeError, match=f"objectGeneration {2**63} does not fit"):
        decode(b"", attributes, DecodePolicy({Format.GCS_NOTIFICATION}))


@given(st.lists(st.sampled_from(["a", ".", "..", "/", "\x00", "b c"]), min_size=1, max_size=8))
def test_path_like_raw_elements_decode_or_raise_only_decode_errors(parts):
    data = "".join(parts).encode()
    try:
        message = decode(data, policy=EVERYTHING)
    except MessageDecodeError:
        return
    segments = message.element.split("/")
    assert "." not in segments and ".." not in segments and not message.element.startswith("/")
