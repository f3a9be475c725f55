"""Bottom-up mode: a job whose input is missing asks its parents to produce it.

A bottom-up message (`Recipients.only([...])`) names the jobs that should run. When
such a message reaches a job whose data input is missing, the job does not
dead-letter it: it adds its parents to the recipients, records `triggered-parent` in
the audit log and sends the message to each parent's input topic (`cadenza-<job>-in`).
The parent produces the output and publishes its event as usual; the job, still a
recipient, receives that event through its edge subscription and runs again: this
time its input exists. Its other children are not recipients and do nothing.

If the parents ran (their entries follow the job's `triggered-parent` entry in the
audit log) and the input is still missing, the message is dead-lettered: the job never
asks twice for the same message. Only a job deployed in the DAG (streaming, with
`from_upstream`) can ask; elsewhere a missing input is dead-lettered as in top-down mode.

>>> from cadenza.core import Message, Recipients
>>> asked = Message.new("t1", recipients=Recipients.only(["fingerprint"]))
>>> step = next_step("fingerprint", ("normalize",), asked)
>>> step.action, step.parents
('ask', ('normalize',))
>>> step.message.recipients.jobs, step.message.audit_log[-1].outcome.value
(('fingerprint', 'normalize'), 'triggered-parent')
>>> ran = step.message.with_audit("normalize", Outcome.PROCESSED)
>>> next_step("fingerprint", ("normalize",), ran).action
'give-up'
"""

from __future__ import annotations

import hashlib

import attrs

from cadenza.core import Message, Outcome, Recipients

ASK, WAIT, GIVE_UP = "ask", "wait", "give-up"


@attrs.frozen
class ParentRequest:
    """A bottom-up message to send to each of `parents`' input topics."""

    message: Message
    parents: tuple[str, ...]


@attrs.frozen
class NextStep:
    """What a job does with a bottom-up message whose input is missing.

    `ask`: send `message` (recipients and audit log updated) to `parents`; `wait`:
    some parents asked earlier have not run yet (finish, their events will come);
    `give-up`: every parent asked ran and the input is still missing (dead-letter)."""

    action: str
    parents: tuple[str, ...]
    message: Message


def request_message_id(job: str, message: Message) -> str:
    """The id of `job`'s request for `message`: derived, so a request sent again after a
    crash carries the same id."""
    if not message.message_id:
        return ""
    return hashlib.sha256(f"{job}\0request\0{message.message_id}".encode()).hexdigest()[:32]


def next_step(job: str, parents: tuple[str, ...], message: Message, version: str = "") -> NextStep:
    """What `job` (with `parents`) does with a bottom-up `message` whose input is missing."""
    entries = message.audit_log
    asked_at = max(
        (
            i
            for i, e in enumerate(entries)
            if e.job == job and e.outcome is Outcome.TRIGGERED_PARENT
        ),
        default=None,
    )
    if asked_at is None:
        recipients = message.recipients
        jobs = tuple(dict.fromkeys((*recipients.jobs, *parents)))
        asking = attrs.evolve(
            message,
            recipients=Recipients.only(jobs, trigger_children_of=recipients.trigger_children_of),
            message_id=request_message_id(job, message),
        ).with_audit(job, Outcome.TRIGGERED_PARENT, job_version=version)
        return NextStep(ASK, parents, asking)
    ran = {e.job for e in entries[asked_at + 1 :]}
    pending = tuple(p for p in parents if p not in ran)
    return NextStep(WAIT if pending else GIVE_UP, pending or parents, message)
