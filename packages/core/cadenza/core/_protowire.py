"""The protobuf wire format, the small part Cadenza needs: varints and length-delimited.

Used for Cadenza's own message schema and to read Klio's `KlioMessage`. Decoding is
strict: truncated data, varints longer than 10 bytes and unsupported wire types
(groups) raise `WireError`, so garbage is refused instead of half-read. A 10-byte
varint is kept to its low 64 bits, as protobuf reads it.
"""

from __future__ import annotations

from collections.abc import Iterator

VARINT = 0
FIXED64 = 1
LEN = 2
FIXED32 = 5
MAX_VARINT_BYTES = 10
UINT64_MASK = (1 << 64) - 1
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


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
    """(value, next position) of the varint at `pos`, kept to 64 bits as protobuf does."""
    result = shift = 0
    for i in range(MAX_VARINT_BYTES):
        if pos + i >= len(data):
            raise WireError(f"truncated varint at byte {pos}")
        byte = data[pos + i]
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result & UINT64_MASK, pos + i + 1
        shift += 7
    raise WireError(f"varint longer than {MAX_VARINT_BYTES} bytes at byte {pos}")


def signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def fits_int64(value: int) -> bool:
    return INT64_MIN <= value <= INT64_MAX


def read_field(data: bytes, pos: int) -> tuple[int, int, int | bytes, int]:
    """(field number, wire type, value, next position) of the field at `pos`: the value
    an int for varints, bytes otherwise."""
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
    return number, wire_type, value, pos


def iter_fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """Yields (field number, wire type, value) for each field of `data`."""
    pos = 0
    while pos < len(data):
        number, wire_type, value, pos = read_field(data, pos)
        yield number, wire_type, value


def field_varint(number: int, value: int) -> bytes:
    key = number << 3 | VARINT
    if 0 <= key < 0x80 and 0 <= value < 0x80:  # most: one byte each, without the calls
        return _ONE_BYTE[key] + _ONE_BYTE[value]
    return encode_varint(key) + encode_varint(value)


def field_bytes(number: int, value: bytes) -> bytes:
    key, size = number << 3 | LEN, len(value)
    if 0 <= key < 0x80 and size < 0x80:
        return _ONE_BYTE[key] + _ONE_BYTE[size] + value
    return encode_varint(key) + encode_varint(size) + value
