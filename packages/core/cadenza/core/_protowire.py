"""The protobuf wire format, the small part Cadenza needs: varints and length-delimited.

Used for Cadenza's own message schema and to read Klio's `KlioMessage`. Decoding is
strict: truncated data, over-long varints and unsupported wire types raise
`WireError`, so garbage is refused instead of half-read.
"""

from __future__ import annotations

from collections.abc import Iterator

VARINT = 0
FIXED64 = 1
LEN = 2
FIXED32 = 5
MAX_VARINT_BYTES = 10


class WireError(ValueError):
    """Bytes that are not valid protobuf wire data."""


_ONE_BYTE = [bytes((v,)) for v in range(0x80)]


def encode_varint(value: int) -> bytes:
    if 0 <= value < 0x80:  # tags, small lengths: most varints
        return _ONE_BYTE[value]
    if value < 0:
        value += 1 << 64  # two's complement, as protobuf encodes negative int64
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position) of the varint at `pos`."""
    result = shift = 0
    for i in range(MAX_VARINT_BYTES):
        if pos + i >= len(data):
            raise WireError(f"truncated varint at byte {pos}")
        byte = data[pos + i]
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos + i + 1
        shift += 7
    raise WireError(f"varint longer than {MAX_VARINT_BYTES} bytes at byte {pos}")


def signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def iter_fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yields (field number, wire type, value): an int for varints, bytes otherwise."""
    pos = 0
    while pos < len(data):
        key, pos = read_varint(data, pos)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise WireError(f"field number 0 at byte {pos}")
        if wire_type == VARINT:
            value, pos = read_varint(data, pos)
        elif wire_type == LEN:
            length, pos = read_varint(data, pos)
            if pos + length > len(data):
                raise WireError(f"field {number} claims {length} bytes, {len(data) - pos} remain")
            value, pos = data[pos : pos + length], pos + length
        elif wire_type in (FIXED64, FIXED32):
            size = 8 if wire_type == FIXED64 else 4
            if pos + size > len(data):
                raise WireError(f"truncated fixed{size * 8} field {number}")
            value, pos = data[pos : pos + size], pos + size
        else:
            raise WireError(f"unsupported wire type {wire_type} for field {number}")
        yield number, wire_type, value


def field_varint(number: int, value: int) -> bytes:
    return encode_varint(number << 3 | VARINT) + encode_varint(value)


def field_bytes(number: int, value: bytes) -> bytes:
    return encode_varint(number << 3 | LEN) + encode_varint(len(value)) + value
