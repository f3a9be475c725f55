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


@pytest.mark.parametrize(
    ("element", "reason"),
    [
        ("..", "'..' has a '..' path segment"),
        ("../secret/x", "has a '..' path segment"),
        ("a/b/..", "has a '..' path segment"),
        (".", "'.' has a '.' path segment"),
        ("a/./b", "has a '.' path segment"),
        ("/etc/passwd", "'/etc/passwd' starts with '/'"),
        ("a\x00b", "has a NUL character"),
    ],
)
def test_element_must_name_a_path_inside_a_data_location(element, reason):
    with pytest.raises(ValueError, match=r"^element: ") as err:
        Message(element=element)
    assert reason in str(err.value)


@pytest.mark.parametrize(
    "element", ["2024/track-1", "mix [/dub]", "a..b", ".hidden", "a/b/", "https://x/a.mp3"]
)
def test_element_may_hold_slashes_between_names(element):
    assert Message(element=element).element == element


def test_an_empty_trigger_children_of_is_none():
    assert Recipients.only(["a"], "") == Recipients.only(["a"])
    assert Recipients.only(["a"], "").trigger_children_of is None


def test_unknown_fields_stay_with_children_and_audit_entries_but_out_of_repr():
    m = Message(element="t", unknown_fields=b"\x50\x01")
    assert m.child().unknown_fields == b"\x50\x01"
    assert m.with_audit("fingerprint", Outcome.PROCESSED).unknown_fields == b"\x50\x01"
    assert "unknown_fields" not in repr(m) and "\\x50" not in repr(m)
    with pytest.raises(TypeError, match="unknown_fields"):
        Message(element="t", unknown_fields="P\x01")


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


def test_children_and_audit_entries_equal_messages_made_in_full():
    import pickle

    import attrs

    m = Message.new("track-1", payload=b"p", recipients=Recipients.only(["a"]))
    child = m.child(message_id="derived")
    assert child == attrs.evolve(m, message_id="derived")
    assert hash(child) == hash(attrs.evolve(m, message_id="derived"))
    assert pickle.loads(pickle.dumps(child)) == child
    assert len(m.child().message_id) == 32 and m.child().message_id != m.child().message_id
    audited = m.with_audit("fingerprint", Outcome.PROCESSED, job_version="2")
    assert audited == attrs.evolve(m, audit_log=audited.audit_log)
    assert audited.audit_log[-1].at.tzinfo is dt.UTC


def test_a_childs_changes_are_still_checked():
    m = Message.new("track-1")
    with pytest.raises(ValueError, match="element"):
        m.child(element="../elsewhere")
    with pytest.raises(TypeError, match="unknown_fields"):
        m.child(unknown_fields="not bytes")


def test_audit_times_in_other_zones_are_kept_in_utc():
    at = dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    entry = Message.new("t").with_audit("j", Outcome.PING, at=at).audit_log[-1]
    assert entry.at == at and entry.at.tzinfo is dt.UTC and entry.at.hour == 10


def test_a_subclass_keeps_its_own_fields_through_children_and_audits():
    import attrs

    @attrs.frozen(kw_only=True)
    class Tagged(Message):
        tag: str = "x"

    m = Tagged(element="track-1", message_id="a", tag="kept")
    assert m.child(message_id="b").tag == "kept"
    assert m.with_audit("j", Outcome.PING).tag == "kept"
