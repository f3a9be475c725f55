"""The message model: construction rules, routing helpers and the audit log."""

import datetime as dt

import pytest

from cadenza.core.message import Message, Outcome, Recipients


def test_new_messages_start_a_trace_and_children_keep_it():
    m = Message.new("track-1")
    assert m.message_id and m.trace_id == m.message_id
    child = m.child(payload=b"x")
    assert child.trace_id == m.trace_id and child.message_id != m.message_id


def test_recipients_top_down_and_bottom_up():
    assert Recipients.anyone().includes("anything")
    r = Recipients.only(["normalize"], trigger_children_of="fingerprint")
    assert r.includes("normalize") and not r.includes("features")
    with pytest.raises(ValueError, match="need limited=True"):
        Recipients(jobs=("x",))


@pytest.mark.parametrize("element", ["", None, "x" * 4097])
def test_element_must_be_a_short_non_empty_string(element):
    with pytest.raises(ValueError, match="element"):
        Message(element=element)


def test_audit_entries_are_appended_in_utc():
    at = dt.datetime(2026, 1, 1, 13, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    m = Message(element="t").with_audit("fingerprint", Outcome.PROCESSED, at=at, job_version="2")
    m = m.with_audit("features", Outcome.PING)
    assert [e.job for e in m.audit_log] == ["fingerprint", "features"]
    assert m.audit_log[0].at == dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="no time zone"):
        m.with_audit("x", Outcome.FAILED, at=dt.datetime(2026, 1, 1))


def test_messages_are_frozen():
    with pytest.raises(AttributeError):
        Message(element="t").element = "u"
