"""Steps 2-4: is this job a recipient, record it in the audit log, pass pings through."""

from __future__ import annotations

import apache_beam as beam

from cadenza.core import Outcome
from cadenza.runtime.lifecycle._step import Step, count
from cadenza.runtime.lifecycle.records import FINISHED, PUBLISH


class _RecipientsFn(beam.DoFn):
    def __init__(self, job: str, job_version: str):
        self._job, self._version = job, job_version

    def process(self, message):
        if message.recipients.includes(self._job):
            yield message
            return
        count(self._job, "not_recipient")
        audited = message.with_audit(self._job, Outcome.NOT_RECIPIENT, job_version=self._version)
        yield beam.pvalue.TaggedOutput(FINISHED, audited)


class CheckRecipients(Step):
    """Messages meant for this job go on; others finish here (audited, not published).

    Top-down messages are meant for every job; bottom-up ones only for the jobs they
    name.
    """

    step_label, stage = "Recipients", "recipients"

    def __init__(self, job: str, job_version: str = ""):
        super().__init__()
        self.job, self._version = job, job_version

    def step_fn(self):
        return _RecipientsFn(self.job, self._version)


class _PingFn(beam.DoFn):
    def __init__(self, job: str, job_version: str):
        self._job, self._version = job, job_version

    def process(self, message):
        if not message.ping:
            yield message
            return
        count(self._job, "ping")
        audited = message.with_audit(self._job, Outcome.PING, job_version=self._version)
        yield beam.pvalue.TaggedOutput(PUBLISH, audited)


class PassPings(Step):
    """A ping does no work: it is audited and published at once, to test the wiring."""

    step_label, stage = "Ping", "ping"

    def __init__(self, job: str, job_version: str = ""):
        super().__init__()
        self.job, self._version = job, job_version

    def step_fn(self):
        return _PingFn(self.job, self._version)
