"""Hypothesis strategies and fixed examples of messages, shared by the core tests."""

import datetime as dt

from hypothesis import strategies as st

from cadenza.core._protowire import field_bytes, field_varint
from cadenza.core.message import (
    AuditEntry,
    GcsObject,
    Message,
    Outcome,
    Recipients,
    element_problem,
)

UTC = dt.UTC
text = st.text(max_size=40)
names = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=30)
elements = names.filter(lambda s: element_problem(s) is None)
times = st.datetimes(
    min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2200, 1, 1), timezones=st.just(UTC)
)
recipients = st.one_of(
    st.just(Recipients.anyone()),
    st.builds(
        Recipients.only,
        st.lists(names, max_size=4),
        st.one_of(st.none(), names),
    ),
)
audit_entries = st.builds(
    AuditEntry, job=text, at=times, outcome=st.sampled_from(Outcome), job_version=text
)
sources = st.one_of(
    st.none(),
    st.builds(GcsObject, bucket=text, name=text, generation=st.integers(-(2**63), 2**63 - 1)),
)
# Fields a newer Cadenza might add (numbers the version 1 schema does not use).
unknown_field = st.one_of(
    st.builds(field_varint, st.integers(10, 2**29 - 1), st.integers(0, 2**64 - 1)),
    st.builds(field_bytes, st.integers(10, 2**29 - 1), st.binary(max_size=20)),
)
unknown_fields = st.lists(unknown_field, max_size=3).map(b"".join)
messages = st.builds(
    Message,
    element=elements,
    payload=st.one_of(st.none(), st.binary(max_size=200)),
    force=st.booleans(),
    ping=st.booleans(),
    recipients=recipients,
    audit_log=st.lists(audit_entries, max_size=4),
    message_id=text,
    trace_id=text,
    source=sources,
    unknown_fields=unknown_fields,
)

# Fixed messages whose version-1 bytes are committed in testdata/message_v1/.
GOLDEN_V1 = {
    "minimal": Message(element="track-1"),
    "top_down_with_payload": Message(
        element="spotify:track:4uLU6hMCjMI75M1A2tKUQC",
        payload=b"\x00\x01\xfe\xff",
        message_id="0f8fad5bd9cb469fa16570867728950e",
        trace_id="0f8fad5bd9cb469fa16570867728950e",
    ),
    "empty_payload_force_ping": Message(
        element="ünïcode-träck", payload=b"", force=True, ping=True, message_id="m", trace_id="t"
    ),
    "bottom_up_audited": Message(
        element="track-9",
        recipients=Recipients.only(["normalize", "fingerprint"], "fingerprint"),
        audit_log=[
            AuditEntry(
                job="normalize",
                at=dt.datetime(2026, 11, 27, 12, 0, 0, 123456, tzinfo=UTC),
                outcome=Outcome.PROCESSED,
                job_version="3",
            ),
            AuditEntry(
                job="fingerprint",
                at=dt.datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC),
                outcome=Outcome.TRIGGERED_PARENT,
            ),
        ],
        message_id="b0",
        trace_id="a0",
    ),
    "limited_to_nobody": Message(element="x", recipients=Recipients.only([])),
    "from_upload": Message(
        element="uploads/track.flac",
        message_id="gcs-1",
        trace_id="gcs-1",
        source=GcsObject(
            bucket="input-bucket", name="uploads/track.flac", generation=1732700000123
        ),
    ),
}
