"""Decoding whatever arrives on a job's event input into a `Message`.

The order is fixed and documented, so the same input always decodes the same way:

1. Cadenza's own format, recognised by its header `CDZ` (always accepted);
2. a Cloud Storage notification, recognised by its Pub/Sub attributes (`eventType`,
   `bucketId`, `objectId`), when the job accepts `gcs_notification`;
3. a Klio v2 `KlioMessage`, when the job accepts `klio`;
4. the raw bytes as the element, when the job accepts `raw`.

Anything else raises `MessageDecodeError` naming the bytes received and why each
accepted format refused them; so does, in every format, an element that would name
files outside a data location (see `cadenza.core.message.path_problem`).

>>> from cadenza.core.wire import encode
>>> from cadenza.core.message import Message
>>> decode(encode(Message(element="t1", message_id="m", trace_id="m"))).element
't1'
>>> decode(b"track-7", policy=DecodePolicy(accept={Format.RAW})).element
'track-7'
>>> decode(b"track-7")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
cadenza.core.errors.MessageDecodeError: 7 bytes starting b'track-7': not a Cadenza message ...
"""

from __future__ import annotations

import enum
from collections.abc import Mapping

import attrs

from cadenza.core import foreign
from cadenza.core.errors import MessageDecodeError, NotAnUploadEvent
from cadenza.core.message import Message
from cadenza.core.wire import decode_cadenza, describe_bytes, has_cadenza_header


class Format(enum.Enum):
    """The foreign formats a job may accept besides Cadenza's own (in decoding order)."""

    GCS_NOTIFICATION = "gcs_notification"
    KLIO = "klio"
    RAW = "raw"


ORDER = (Format.GCS_NOTIFICATION, Format.KLIO, Format.RAW)


@attrs.frozen
class DecodePolicy:
    """Which foreign formats a job accepts (its config's `events.accept`)."""

    accept: frozenset[Format] = attrs.field(default=frozenset(), converter=frozenset)


def decode(
    data: bytes, attributes: Mapping[str, str] | None = None, policy: DecodePolicy = DecodePolicy()
) -> Message:
    """The message in `data` (with its Pub/Sub `attributes`), per the order above."""
    if not isinstance(data, bytes | bytearray):
        raise MessageDecodeError(f"expected bytes, got {type(data).__name__}")
    data = bytes(data)
    if has_cadenza_header(data):
        return decode_cadenza(data)
    refusals = []
    for fmt in ORDER:
        if fmt not in policy.accept:
            continue
        try:
            if fmt is Format.GCS_NOTIFICATION:
                if foreign.is_gcs_notification(attributes):
                    return foreign.from_gcs_notification(attributes)
                refusals.append("no storage notification attributes")
            elif fmt is Format.KLIO:
                return foreign.from_klio(data)
            else:
                return foreign.from_raw(data)
        except NotAnUploadEvent:
            raise
        except MessageDecodeError as err:
            refusals.append(str(err).removeprefix(describe_bytes(data) + ": "))
    if not policy.accept:
        why = "this job accepts no other format (events.accept: raw, gcs_notification, klio)"
    else:
        why = "; ".join(refusals)
    raise MessageDecodeError(
        f"{describe_bytes(data)}: not a Cadenza message (no b'CDZ' header), and {why}"
    )
