"""Messages that were not written by Cadenza: storage notifications, Klio, raw ids.

Each reader returns a `Message` or raises `MessageDecodeError`. Messages made here get
deterministic ids derived from what was received, so decoding the same bytes twice
gives the same message.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping

from cadenza.core._protowire import LEN, VARINT, WireError, fits_int64, iter_fields, signed64
from cadenza.core.errors import MessageDecodeError, NotAnUploadEvent
from cadenza.core.message import (
    EPOCH,
    MAX_ELEMENT_BYTES,
    AuditEntry,
    GcsObject,
    Message,
    Outcome,
    Recipients,
    path_problem,
)
from cadenza.core.wire import describe_bytes

GCS_ATTRIBUTES = ("eventType", "bucketId", "objectId")
GCS_FINALIZE = "OBJECT_FINALIZE"
KLIO_V2 = 2


def _derived_id(prefix: str, *parts: bytes) -> str:
    digest = hashlib.sha256(b"\0".join(parts)).hexdigest()[:32]
    return f"{prefix}-{digest}"


def is_gcs_notification(attributes: Mapping[str, str] | None) -> bool:
    """Pub/Sub attributes of a Cloud Storage notification carry these three keys."""
    return bool(attributes) and all(key in attributes for key in GCS_ATTRIBUTES)


def from_gcs_notification(attributes: Mapping[str, str]) -> Message:
    """An upload (OBJECT_FINALIZE) notification: the object's name becomes the element."""
    event = attributes["eventType"]
    bucket, name = attributes["bucketId"], attributes["objectId"]
    if event != GCS_FINALIZE:
        raise NotAnUploadEvent(
            f"storage notification {event} for gs://{bucket}/{name}: not an upload"
        )
    if name.endswith("/"):  # what consoles create for "new folder": no file to process
        raise NotAnUploadEvent(
            f"storage notification for gs://{bucket}/{name}: a folder placeholder, not a file"
        )
    generation_text = attributes.get("objectGeneration", "0") or "0"
    try:
        generation = int(generation_text)
    except ValueError:
        raise MessageDecodeError(
            f"storage notification for gs://{bucket}/{name}: "
            f"objectGeneration {generation_text!r} is not an integer"
        ) from None
    if not fits_int64(generation):
        raise MessageDecodeError(
            f"storage notification for gs://{bucket}/{name}: "
            f"objectGeneration {generation} does not fit in an int64"
        )
    trace = _derived_id("gcs", bucket.encode(), name.encode(), str(generation).encode())
    try:
        return Message(
            element=name,
            message_id=trace,
            trace_id=trace,
            source=GcsObject(bucket=bucket, name=name, generation=generation),
        )
    except ValueError as err:
        raise MessageDecodeError(f"storage notification for gs://{bucket}: {err}") from None


def from_raw(data: bytes) -> Message:
    """Raw bytes are the element itself (UTF-8 text, surrounding white space removed)."""
    try:
        element = data.decode("utf-8").strip()
    except UnicodeDecodeError as err:
        where = f"{err.reason} at byte {err.start}"
        raise MessageDecodeError(
            f"{describe_bytes(data)}: raw element is not UTF-8 text ({where})"
        ) from None
    if not element:
        raise MessageDecodeError(f"{describe_bytes(data)}: raw element is empty")
    if len(element.encode()) > MAX_ELEMENT_BYTES:
        raise MessageDecodeError(
            f"{describe_bytes(data)}: raw element longer than {MAX_ELEMENT_BYTES} bytes"
        )
    if not element.isprintable():
        raise MessageDecodeError(f"{describe_bytes(data)}: raw element has control characters")
    problem = path_problem(element)
    if problem:
        raise MessageDecodeError(f"{describe_bytes(data)}: raw element {problem}")
    trace = _derived_id("raw", data)
    return Message(element=element, message_id=trace, trace_id=trace)


# Klio v2 KlioMessage field numbers, from Klio's published klio.proto.
_KLIO_TOP = {1: ("metadata", LEN), 2: ("data", LEN), 3: ("version", VARINT)}
_KLIO_METADATA = {
    1: ("downstream", LEN), 2: ("visited", LEN), 3: ("job_audit_log", LEN),
    4: ("force", VARINT), 5: ("ping", VARINT), 6: ("intended_recipients", LEN),
}  # fmt: skip
_KLIO_RECIPIENTS = {1: ("anyone", LEN), 2: ("limited", LEN)}
_KLIO_LIMITED = {1: ("recipients", LEN), 2: ("trigger_children_of", LEN)}
_KLIO_DATA = {1: ("entity_id", LEN), 2: ("payload", LEN), 3: ("element", LEN)}
_KLIO_JOB = {1: ("job_name", LEN), 2: ("gcp_project", LEN), 3: ("inputs", LEN)}
_KLIO_AUDIT_ITEM = {1: ("timestamp", LEN), 2: ("klio_job", LEN)}
_TIMESTAMP = {1: ("seconds", VARINT), 2: ("nanos", VARINT)}


def _klio_fields(data: bytes, schema, what: str, strict: bool = False) -> dict[str, list]:
    found: dict[str, list] = {}
    for number, wire_type, value in iter_fields(data):
        if number not in schema:
            if strict:
                raise WireError(f"{what}: field {number} is not in Klio's schema")
            continue
        name, expected = schema[number]
        if wire_type != expected:
            raise WireError(f"{what}.{name}: wire type {wire_type}, expected {expected}")
        found.setdefault(name, []).append(value)
    return found


def _merged(fields: dict[str, list], name: str) -> bytes:
    """An embedded message sent more than once, merged as protobuf merges it."""
    return b"".join(fields.get(name, []))


def _klio_job_name(data: bytes) -> str:
    names = _klio_fields(data, _KLIO_JOB, "KlioJob").get("job_name", [b""])
    return names[-1].decode("utf-8")


def _klio_audit(data: bytes) -> AuditEntry:
    item = _klio_fields(data, _KLIO_AUDIT_ITEM, "job_audit_log")
    at = _klio_time(_merged(item, "timestamp")) if "timestamp" in item else EPOCH
    job = _klio_job_name(_merged(item, "klio_job")) if "klio_job" in item else ""
    return AuditEntry(job=job, at=at, outcome=Outcome.KLIO)


def _klio_time(data: bytes) -> dt.datetime:
    ts = _klio_fields(data, _TIMESTAMP, "job_audit_log.timestamp")
    seconds = signed64(ts.get("seconds", [0])[-1])
    nanos = signed64(ts.get("nanos", [0])[-1])
    try:
        return EPOCH + dt.timedelta(seconds=seconds, microseconds=nanos // 1000)
    except OverflowError:
        raise WireError(
            f"job_audit_log.timestamp: {seconds} s, {nanos} ns is outside the years 1 to 9999"
        ) from None


def _klio_recipients(data: bytes) -> Recipients:
    r = _klio_fields(data, _KLIO_RECIPIENTS, "intended_recipients")
    if "limited" not in r:
        return Recipients.anyone()
    limited = _klio_fields(_merged(r, "limited"), _KLIO_LIMITED, "limited")
    jobs = [_klio_job_name(j) for j in limited.get("recipients", [])]
    trigger = (
        _klio_job_name(_merged(limited, "trigger_children_of"))
        if "trigger_children_of" in limited
        else None
    )
    return Recipients.only(jobs, trigger)


def from_klio(data: bytes) -> Message:
    """A Klio v2 `KlioMessage` (protobuf): element, payload, force, ping, recipients, audit log."""
    try:
        top = _klio_fields(data, _KLIO_TOP, "KlioMessage", strict=True)
        version = top.get("version", [0])[-1]
        if version != KLIO_V2:
            raise WireError(f"Klio message version {version}, only version 2 (element) is read")
        fields = _klio_fields(_merged(top, "data"), _KLIO_DATA, "data")
        element = fields.get("element", [b""])[-1].decode("utf-8")
        payload = fields.get("payload", [b""])[-1] or None
        meta = _klio_fields(_merged(top, "metadata"), _KLIO_METADATA, "metadata")
        trace = _derived_id("klio", data)
        return Message(
            element=element,
            payload=payload,
            force=bool(meta.get("force", [0])[-1]),
            ping=bool(meta.get("ping", [0])[-1]),
            recipients=_klio_recipients(_merged(meta, "intended_recipients"))
            if "intended_recipients" in meta
            else Recipients.anyone(),
            audit_log=[_klio_audit(item) for item in meta.get("job_audit_log", [])],
            message_id=trace,
            trace_id=trace,
        )
    except (WireError, UnicodeDecodeError, ValueError, OverflowError) as err:
        raise MessageDecodeError(f"{describe_bytes(data)}: not a Klio v2 message: {err}") from None
