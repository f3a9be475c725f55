"""Cadenza's wire format: exact round trips, committed golden bytes, refused garbage."""

import pathlib

import pytest
from hypothesis import given
from hypothesis import strategies as st
from messages import GOLDEN_V1, messages

from cadenza.core.errors import MessageDecodeError
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
    ],
)
def test_garbage_is_refused_with_a_reason(data, reason):
    with pytest.raises(MessageDecodeError, match="bytes starting") as err:
        decode_cadenza(data)
    assert reason in str(err.value)
    assert f"{len(data)} bytes" in str(err.value)


def test_unknown_fields_are_skipped_for_forward_compatibility():
    data = encode(GOLDEN_V1["minimal"]) + b"\xf8\x07\x01"  # field 127, varint 1
    assert decode_cadenza(data) == GOLDEN_V1["minimal"]


def test_huge_message_round_trips():
    message = GOLDEN_V1["minimal"].__class__(element="big", payload=b"\xab" * 20_000_000)
    assert decode_cadenza(encode(message)).payload == message.payload
