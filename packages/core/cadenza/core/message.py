"""The message: the unit of work that flows between Cadenza jobs.

A message names one piece of media (its `element`, e.g. a track id), carries routing
metadata (`force`, `ping`, `recipients`) and an audit log of the jobs that handled it,
and is identified by a `message_id`, with a `trace_id` shared by every message that
descends from the same upload.

>>> m = Message.new("track-42", trace_id="upload-1")
>>> m.element, m.recipients.is_anyone, m.force
('track-42', True, False)
>>> m2 = m.with_audit("fingerprint", Outcome.PROCESSED, at=EPOCH)
>>> [(e.job, e.outcome.value) for e in m2.audit_log]
[('fingerprint', 'processed')]
"""

from __future__ import annotations

import datetime as dt
import enum
import uuid

import attrs

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MAX_ELEMENT_BYTES = 4096


class Outcome(enum.Enum):
    """What a job did with a message (one audit log entry each)."""

    PROCESSED = "processed"
    SKIPPED_OUTPUT_EXISTS = "skipped-output-exists"
    PING = "ping"
    NOT_RECIPIENT = "not-recipient"
    TRIGGERED_PARENT = "triggered-parent"
    FAILED = "failed"
    KLIO = "klio"  # an entry carried over from a Klio audit log, which has no outcome


def _shown(value: str, limit: int = 80) -> str:
    """`value` as an error shows it: its repr, cut short when long."""
    return repr(value) if len(value) <= limit else repr(value[:limit]) + "..."


def path_problem(element: str) -> str | None:
    """Why `element` cannot name files inside a data location, or None.

    A location keeps an element's file at `location/<element><suffix>`, so an element
    may hold `/` between names (`2024/track-1`) but no `.` or `..` segment, no leading
    `/` and no NUL character.

    >>> path_problem("2024/track-1") is None
    True
    >>> path_problem("a/../../b")
    "'a/../../b' has a '..' path segment (an element names a path inside each data location)"
    """
    segments = element.split("/")
    if "\0" in element:
        what = "has a NUL character"
    elif element.startswith("/"):
        what = "starts with '/'"
    elif ".." in segments or "." in segments:
        what = f"has a {'..' if '..' in segments else '.'!r} path segment"
    else:
        return None
    return f"{_shown(element)} {what} (an element names a path inside each data location)"


def element_problem(value) -> str | None:
    """What is wrong with `value` as a message's element, or None."""
    if not isinstance(value, str) or not value:
        return f"expected a non-empty string, got {value!r}"
    if len(value.encode("utf-8")) > MAX_ELEMENT_BYTES:
        return f"{len(value.encode())} bytes is longer than {MAX_ELEMENT_BYTES}"
    return path_problem(value)


def _check_element(instance, attribute, value: str) -> None:
    problem = element_problem(value)
    if problem:
        raise ValueError(f"{attribute.name}: {problem}")


def _none_if_empty(value: str | None) -> str | None:
    return value or None


def _utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is dt.UTC:  # most: the time now, or a decoded one
        return value
    if value.tzinfo is None:
        raise ValueError(f"audit time {value!r} has no time zone")
    return value.astimezone(dt.UTC)


@attrs.frozen(kw_only=True)
class Recipients:
    """Who should act on a message.

    Top-down (`Recipients.anyone()`): every job downstream runs. Bottom-up
    (`Recipients.limited([...])`): only the named jobs run, to produce what the target
    needs; then, if `trigger_children_of` is set, that job's children run as usual
    (an empty `trigger_children_of` is None, as on the wire).
    """

    limited: bool = False
    jobs: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    trigger_children_of: str | None = attrs.field(default=None, converter=_none_if_empty)

    def __attrs_post_init__(self) -> None:
        if not self.limited and (self.jobs or self.trigger_children_of):
            raise ValueError("recipients: jobs and trigger_children_of need limited=True")

    @classmethod
    def anyone(cls) -> Recipients:
        return cls()

    @classmethod
    def only(cls, jobs, trigger_children_of: str | None = None) -> Recipients:
        return cls(limited=True, jobs=tuple(jobs), trigger_children_of=trigger_children_of)

    @property
    def is_anyone(self) -> bool:
        return not self.limited

    def includes(self, job: str) -> bool:
        """True when `job` should run for this message."""
        return not self.limited or job in self.jobs


@attrs.frozen(kw_only=True)
class AuditEntry:
    """One job's handling of a message: who, when (UTC, microseconds) and with what outcome."""

    job: str
    at: dt.datetime = attrs.field(converter=_utc)
    outcome: Outcome
    job_version: str = ""


@attrs.frozen(kw_only=True)
class GcsObject:
    """The storage object a message came from, when it came from an upload notification."""

    bucket: str
    name: str
    generation: int = 0


@attrs.frozen(kw_only=True)
class Message:
    """The unit of work between jobs. Build new ones with `Message.new`."""

    element: str = attrs.field(validator=_check_element)
    payload: bytes | None = None
    force: bool = False
    ping: bool = False
    recipients: Recipients = attrs.field(factory=Recipients)
    audit_log: tuple[AuditEntry, ...] = attrs.field(default=(), converter=tuple)
    message_id: str = ""
    trace_id: str = ""
    source: GcsObject | None = None
    # top-level fields this Cadenza does not know (added by a newer one), as they
    # arrived on the wire; encoding writes them back, so they reach newer readers
    unknown_fields: bytes = attrs.field(
        default=b"", repr=False, validator=attrs.validators.instance_of(bytes)
    )

    @classmethod
    def new(cls, element: str, *, trace_id: str | None = None, **fields) -> Message:
        """A message with a fresh `message_id`; the trace starts here unless given."""
        message_id = uuid.uuid4().hex
        return cls(
            element=element, message_id=message_id, trace_id=trace_id or message_id, **fields
        )

    def with_audit(
        self, job: str, outcome: Outcome, *, at: dt.datetime | None = None, job_version: str = ""
    ) -> Message:
        """This message with one more audit log entry."""
        entry = AuditEntry(
            job=job, at=at or dt.datetime.now(dt.UTC), outcome=outcome, job_version=job_version
        )
        return _replaced(self, audit_log=(*self.audit_log, entry))

    def child(self, *, message_id: str = "", **changes) -> Message:
        """The message a job publishes for its children: a new id (`message_id`, or a
        random one), the same trace; `changes` as `attrs.evolve` takes them."""
        message_id = message_id or uuid.uuid4().hex
        if not changes:  # nothing that needs checking
            return _replaced(self, message_id=message_id)
        return attrs.evolve(self, message_id=message_id, **changes)


_MESSAGE_FIELDS = tuple(field.name for field in attrs.fields(Message))


def _replaced(message: Message, **changes) -> Message:
    """`attrs.evolve(message, **changes)` without checking its fields again, for values
    that need no check (an audit entry made here, a message id), on a message whose
    fields were checked when it was made: half the cost of `evolve`, on every message.
    A subclass's message (fields of its own) is evolved."""
    if type(message) is not Message:
        return attrs.evolve(message, **changes)
    new = object.__new__(Message)
    for name in _MESSAGE_FIELDS:
        object.__setattr__(new, name, changes[name] if name in changes else getattr(message, name))
    return new
