"""Cadenza's own wire format: a 4-byte header, then the protobuf-encoded message.

The schema is `cadenza/core/schema/message_v1.proto`. Decoding reads what protobuf
reads: an embedded message sent twice is merged, and top-level fields this Cadenza
does not know are kept (`Message.unknown_fields`) and written back after the known
ones, so a field added by a newer job passes through an older one. Encoding is
deterministic and round-trips exactly:

>>> from cadenza.core.message import Message
>>> data = encode(Message(element="track-1", payload=b"", message_id="m", trace_id="t"))
>>> data[:4], decode_cadenza(data) == decode_cadenza(encode(decode_cadenza(data)))
(b'CDZ\\x01', True)
>>> decode_cadenza(data).payload
b''
"""

from __future__ import annotations

import datetime as dt

from cadenza.core._protowire import (
    LEN,
    VARINT,
    WireError,
    field_bytes,
    field_varint,
    fits_int64,
    read_field,
    signed64,
)
from cadenza.core.errors import MessageDecodeError
from cadenza.core.message import EPOCH, AuditEntry, GcsObject, Message, Outcome, Recipients

MAGIC = b"CDZ"
VERSION = 1
HEADER = MAGIC + bytes([VERSION])


def _micros(at: dt.datetime) -> int:
    delta = at - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _string(number: int, value: str) -> bytes:
    return field_bytes(number, value.encode("utf-8")) if value else b""


def _encode_recipients(r: Recipients) -> bytes:
    out = b"".join(field_bytes(1, job.encode("utf-8")) for job in r.jobs)
    return out + _string(2, r.trigger_children_of or "")


def _encode_audit(e: AuditEntry) -> bytes:
    micros = _micros(e.at)
    return (
        _string(1, e.job)
        + (field_varint(2, micros) if micros else b"")
        + _string(3, e.outcome.value)
        + _string(4, e.job_version)
    )


def _int64(value: int, what: str) -> int:
    if not fits_int64(value):
        raise ValueError(f"{what}: {value} does not fit in the wire format's int64")
    return value


def _encode_source(s: GcsObject) -> bytes:
    generation = _int64(s.generation, "source.generation")
    return (
        _string(1, s.bucket)
        + _string(2, s.name)
        + (field_varint(3, generation) if generation else b"")
    )


def encode(message: Message) -> bytes:
    """The message in Cadenza's wire format, version 1."""
    body = [_string(1, message.element)]
    if message.payload is not None:
        body.append(field_bytes(2, message.payload))
    if message.force:
        body.append(field_varint(3, 1))
    if message.ping:
        body.append(field_varint(4, 1))
    if message.recipients.limited:
        body.append(field_bytes(5, _encode_recipients(message.recipients)))
    body.extend(field_bytes(6, _encode_audit(entry)) for entry in message.audit_log)
    body.append(_string(7, message.message_id))
    body.append(_string(8, message.trace_id))
    if message.source is not None:
        body.append(field_bytes(9, _encode_source(message.source)))
    body.append(message.unknown_fields)
    return HEADER + b"".join(body)


def _text(value, what: str) -> str:
    if not isinstance(value, bytes):
        raise WireError(f"{what}: expected a length-delimited field")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as err:
        raise WireError(f"{what}: not UTF-8 ({err.reason} at byte {err.start})") from None


def _int(value, what: str) -> int:
    if not isinstance(value, int):
        raise WireError(f"{what}: expected a varint field")
    return value


def _fields(
    data: bytes, schema: dict[int, tuple[str, int]], what: str, unknown: list | None = None
) -> dict[str, list]:
    """Groups a message's known fields by name, checking each field's wire type. Unknown
    fields are skipped, or, given an `unknown` list, added to it as they arrived."""
    found: dict[str, list] = {}
    pos = 0
    while pos < len(data):
        number, wire_type, value, end = read_field(data, pos)
        if number in schema:
            name, expected = schema[number]
            if wire_type != expected:
                raise WireError(f"{what}.{name}: wire type {wire_type}, expected {expected}")
            found.setdefault(name, []).append(value)
        elif unknown is not None:
            unknown.append(data[pos:end])
        pos = end
    return found


_MESSAGE = {
    1: ("element", LEN), 2: ("payload", LEN), 3: ("force", VARINT), 4: ("ping", VARINT),
    5: ("recipients", LEN), 6: ("audit_log", LEN), 7: ("message_id", LEN),
    8: ("trace_id", LEN), 9: ("source", LEN),
}  # fmt: skip
_RECIPIENTS = {1: ("jobs", LEN), 2: ("trigger_children_of", LEN)}
_AUDIT = {1: ("job", LEN), 2: ("time_us", VARINT), 3: ("outcome", LEN), 4: ("job_version", LEN)}
_SOURCE = {1: ("bucket", LEN), 2: ("name", LEN), 3: ("generation", VARINT)}


def _last(fields: dict[str, list], name: str, default=None):
    return fields[name][-1] if name in fields else default


def _merged(fields: dict[str, list], name: str) -> bytes:
    """An embedded message sent more than once, merged as protobuf merges it."""
    return b"".join(fields[name])


def _time(micros: int, what: str) -> dt.datetime:
    try:
        return EPOCH + dt.timedelta(microseconds=micros)
    except OverflowError:
        raise WireError(f"{what}: {micros} is outside the years 1 to 9999") from None


def _decode_audit(data: bytes) -> AuditEntry:
    f = _fields(data, _AUDIT, "audit_log")
    outcome = _text(_last(f, "outcome", b""), "audit_log.outcome")
    try:
        outcome_value = Outcome(outcome)
    except ValueError:
        raise WireError(f"audit_log.outcome: unknown outcome {outcome!r}") from None
    micros = signed64(_int(_last(f, "time_us", 0), "audit_log.time_us"))
    return AuditEntry(
        job=_text(_last(f, "job", b""), "audit_log.job"),
        at=_time(micros, "audit_log.time_us"),
        outcome=outcome_value,
        job_version=_text(_last(f, "job_version", b""), "audit_log.job_version"),
    )


def _decode_body(body: bytes) -> Message:
    unknown: list[bytes] = []
    f = _fields(body, _MESSAGE, "message", unknown)
    recipients = Recipients()
    if "recipients" in f:
        r = _fields(_merged(f, "recipients"), _RECIPIENTS, "recipients")
        trigger = _text(_last(r, "trigger_children_of", b""), "recipients.trigger_children_of")
        recipients = Recipients.only(
            [_text(j, "recipients.jobs") for j in r.get("jobs", [])], trigger or None
        )
    source = None
    if "source" in f:
        s = _fields(_merged(f, "source"), _SOURCE, "source")
        source = GcsObject(
            bucket=_text(_last(s, "bucket", b""), "source.bucket"),
            name=_text(_last(s, "name", b""), "source.name"),
            generation=signed64(_int(_last(s, "generation", 0), "source.generation")),
        )
    return Message(
        element=_text(_last(f, "element", b""), "element"),
        payload=_last(f, "payload"),
        force=bool(_int(_last(f, "force", 0), "force")),
        ping=bool(_int(_last(f, "ping", 0), "ping")),
        recipients=recipients,
        audit_log=[_decode_audit(e) for e in f.get("audit_log", [])],
        message_id=_text(_last(f, "message_id", b""), "message_id"),
        trace_id=_text(_last(f, "trace_id", b""), "trace_id"),
        source=source,
        unknown_fields=b"".join(unknown),
    )


def describe_bytes(data: bytes) -> str:
    """How an error names bytes it received: their length and first bytes."""
    return f"{len(data)} bytes starting {data[:16]!r}"


def has_cadenza_header(data: bytes) -> bool:
    return data[:3] == MAGIC


def decode_cadenza(data: bytes) -> Message:
    """Decodes Cadenza's wire format; raises MessageDecodeError naming what was wrong."""
    if not has_cadenza_header(data):
        raise MessageDecodeError(f"{describe_bytes(data)}: no Cadenza header {MAGIC!r}")
    if len(data) < len(HEADER):
        raise MessageDecodeError(f"{describe_bytes(data)}: truncated Cadenza header")
    version = data[3]
    if version != VERSION:
        raise MessageDecodeError(
            f"{describe_bytes(data)}: Cadenza message format version {version}; "
            f"this Cadenza reads version {VERSION}"
        )
    try:
        return _decode_body(data[len(HEADER) :])
    except (WireError, ValueError, OverflowError) as err:
        raise MessageDecodeError(
            f"{describe_bytes(data)}: invalid Cadenza message: {err}"
        ) from None
