"""Cadenza's wire format: exact round trips, committed golden bytes, refused garbage."""

import pathlib

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st
from messages import GOLDEN_V1, messages

from cadenza.core._protowire import encode_varint, field_bytes, field_varint
from cadenza.core.errors import MessageDecodeError
from cadenza.core.message import GcsObject, Message, Recipients
from cadenza.core.wire import HEADER, decode_cadenza, encode

GOLDEN_DIR = pathlib.Path(__file__).parent / "testdata" / "message_v1"


@given(messages)
def test_round_trip_is_exact(message):
    data = encode(message)
    assert data.startswith(HEADER)
    assert decode_cadenza(data) == message
    assert encode(decode_cadenza(data)) == data


@pytest.mark.parametrize("name", sorted(GOLDEN_V1))
def test_golden_bytes_of_version_1(name):
    golden = (GOLDEN_DIR / f"{name}.bin").read_bytes()
    assert encode(GOLDEN_V1[name]) == golden, f"the encoding of {name} changed: old messages break"
    assert decode_cadenza(golden) == GOLDEN_V1[name]


def test_every_golden_file_has_a_case():
    assert {p.stem for p in GOLDEN_DIR.glob("*.bin")} == set(GOLDEN_V1)


@given(messages, st.data())
def test_truncated_messages_fail_or_decode_to_a_valid_message(message, data):
    encoded = encode(message)
    cut = data.draw(st.integers(0, len(encoded) - 1))
    try:
        decode_cadenza(encoded[:cut])
    except MessageDecodeError as err:
        assert f"{cut} bytes" in str(err)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "no Cadenza header"),
        (b"CD", "no Cadenza header"),
        (b"CDZ", "truncated Cadenza header"),
        (b"CDZ\x02" + b"\x0a\x01x", "format version 2"),
        (HEADER, "element: expected a non-empty string"),
        (HEADER + b"\x0a\x05ab", "claims 5 bytes, 2 remain"),
        (HEADER + b"\x0a\x02\xff\xfe", "element: not UTF-8"),
        (HEADER + b"\x18" + b"\xff" * 11, "varint longer than 10 bytes"),
        (HEADER + b"\x0b", "unsupported wire type 3"),
        (HEADER + b"\x0d\x00\x00", "truncated fixed32"),
        (HEADER + b"\x08\x01", "element: wire type 0, expected 2"),
        (HEADER + b"\x0a\x01x\x32\x08\x1a\x06bogus!", "unknown outcome 'bogus!'"),
        (HEADER + b"\x0a\x04../x", "element: '../x' has a '..' path segment"),
        (HEADER + b"\x0a\x05a/./b", "element: 'a/./b' has a '.' path segment"),
        (HEADER + b"\x0a\x04/etc", "element: '/etc' starts with '/'"),
        (HEADER + b"\x0a\x03a\x00b", "element: 'a\\x00b' has a NUL character"),
    ],
)
def test_garbage_is_refused_with_a_reason(data, reason):
    with pytest.raises(MessageDecodeError, match="bytes starting") as err:
        decode_cadenza(data)
    assert reason in str(err.value)
    assert f"{len(data)} bytes" in str(err.value)


def test_unknown_fields_are_kept_and_written_back_after_the_known_ones():
    unknown = b"\xf8\x07\x01" + b"\x82\x08\x03abc"  # field 127 = 1, field 128 = "abc"
    data = encode(GOLDEN_V1["minimal"]) + unknown
    message = decode_cadenza(data)
    assert message == attrs.evolve(GOLDEN_V1["minimal"], unknown_fields=unknown)
    assert "unknown_fields" not in repr(message)
    assert encode(message) == data
    child = message.child(force=True)
    assert encode(child) == encode(attrs.evolve(child, unknown_fields=b"")) + unknown


def test_unknown_fields_between_known_ones_are_kept_in_order():
    data = HEADER + b"\x0a\x01x" + b"\x50\x01" + b"\x3a\x01m" + b"\x5a\x01z"
    message = decode_cadenza(data)
    assert (message.element, message.message_id) == ("x", "m")
    assert message.unknown_fields == b"\x50\x01\x5a\x01z"
    assert encode(message) == HEADER + b"\x0a\x01x\x3a\x01m\x50\x01\x5a\x01z"


@pytest.mark.parametrize("time_us", [2**62, -(2**63), 2**63 - 1])
def test_audit_times_out_of_datetime_range_are_refused_naming_the_field(time_us):
    entry = field_bytes(1, b"j") + field_varint(2, time_us) + field_bytes(3, b"processed")
    data = HEADER + field_bytes(1, b"x") + field_bytes(6, entry)
    with pytest.raises(MessageDecodeError, match=f"audit_log.time_us: {time_us} is outside"):
        decode_cadenza(data)


@pytest.mark.parametrize(
    "varint",
    [b"\xff" * 9 + b"\x01", b"\xff" * 9 + b"\x7f"],  # the second has bits above the 64th
)
def test_ten_byte_varints_keep_their_low_64_bits_as_protobuf_does(varint):
    data = HEADER + b"\x0a\x01x" + b"\x4a\x0b\x18" + varint  # source.generation
    message = decode_cadenza(data)
    assert message.source.generation == -1
    assert decode_cadenza(encode(message)) == message


@pytest.mark.parametrize("generation", [2**63, 2**64, -(2**63) - 1])
def test_int64_fields_out_of_range_are_refused_on_encode(generation):
    message = Message(element="x", source=GcsObject(bucket="b", name="n", generation=generation))
    with pytest.raises(ValueError, match=f"source.generation: {generation} does not fit"):
        encode(message)


def test_an_embedded_message_sent_twice_is_merged():
    recipients = field_bytes(5, field_bytes(1, b"a")) + field_bytes(5, field_bytes(2, b"t"))
    source = field_bytes(9, field_bytes(1, b"b") + field_bytes(2, b"n1")) + field_bytes(
        9, field_bytes(2, b"n2") + field_varint(3, 7)
    )
    message = decode_cadenza(HEADER + field_bytes(1, b"x") + recipients + source)
    assert message.recipients == Recipients.only(["a"], "t")
    assert message.source == GcsObject(bucket="b", name="n2", generation=7)


def test_an_empty_trigger_children_of_round_trips():
    message = Message(element="x", recipients=Recipients.only(["a"], ""))
    assert decode_cadenza(encode(message)) == message


def test_huge_message_round_trips():
    message = GOLDEN_V1["minimal"].__class__(element="big", payload=b"\xab" * 20_000_000)
    assert decode_cadenza(encode(message)).payload == message.payload


def _key_and_varint(number: int, wire_type: int, value: int) -> bytes:
    """A field as the general encoder writes it: key varint, then value varint."""
    return encode_varint(number << 3 | wire_type) + encode_varint(value)


@given(st.integers(1, 2**29 - 1), st.integers(-(2**63), 2**64 - 1))
def test_varint_fields_are_encoded_as_the_general_encoder_would(number, value):
    assert field_varint(number, value) == _key_and_varint(number, 0, value)


@given(st.integers(1, 2**29 - 1), st.binary(max_size=300))
def test_length_delimited_fields_are_encoded_as_the_general_encoder_would(number, value):
    expected = _key_and_varint(number, 2, len(value)) + value
    assert field_bytes(number, value) == field_bytes(number, bytearray(value)) == expected
