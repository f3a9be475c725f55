"""Steps 5-6: skip messages whose outputs exist (unless forced); require the inputs.

Outputs written by this very message (their provenance names its id: an earlier
delivery wrote them, then the job stopped before acknowledging) are its own work: it
is audited `processed`, as the first delivery would have been, not `skipped`.
"""

from __future__ import annotations

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from cadenza.core import JobConfig, Outcome
from cadenza.runtime.lifecycle._step import Step, count
from cadenza.runtime.lifecycle.records import DEAD_LETTER, PUBLISH, DeadLetter
from cadenza.runtime.storage import read_provenance


def outputs_done(config: JobConfig, element: str) -> bool:
    """True when every checked output of `element` exists (in this job version, if asked)."""
    checked = [loc for loc in config.data.outputs if not loc.skip_existence_check]
    if not checked:
        return False
    for loc in checked:
        path = loc.path_for(element)
        if not FileSystems.exists(path):
            return False
        if config.reprocess_on_version_change:
            provenance = read_provenance(path) or {}
            if provenance.get("job_version") != config.version:
                return False
    return True


def written_by(config: JobConfig, message) -> bool:
    """True when the first checked output's provenance names this message's id."""
    checked = [loc for loc in config.data.outputs if not loc.skip_existence_check]
    if not checked or not message.message_id:
        return False
    provenance = read_provenance(checked[0].path_for(message.element)) or {}
    return provenance.get("message_id") == message.message_id


def missing_inputs(config: JobConfig, element: str) -> list[str]:
    return [
        f"{loc.name} ({loc.path_for(element)})"
        for loc in config.data.inputs
        if not loc.skip_existence_check and not FileSystems.exists(loc.path_for(element))
    ]


class _SkipExistingFn(beam.DoFn):
    def __init__(self, config: JobConfig):
        self._config = config

    def process(self, message):
        if message.force or not outputs_done(self._config, message.element):
            yield message
            return
        if written_by(self._config, message):
            count(self._config.job_name, "processed_before_redelivery")
            outcome = Outcome.PROCESSED
        else:
            count(self._config.job_name, "skipped_output_exists")
            outcome = Outcome.SKIPPED_OUTPUT_EXISTS
        audited = message.with_audit(
            self._config.job_name, outcome, job_version=self._config.version
        )
        yield beam.pvalue.TaggedOutput(PUBLISH, audited)


class SkipExistingOutputs(Step):
    """Messages whose outputs all exist are published without work, unless `force`."""

    step_label, stage = "SkipExisting", "outputs"

    def __init__(self, config: JobConfig):
        super().__init__()
        self._config, self.job = config, config.job_name

    def step_fn(self):
        return _SkipExistingFn(self._config)


class _RequireInputsFn(beam.DoFn):
    def __init__(self, config: JobConfig):
        self._config = config

    def process(self, message):
        missing = missing_inputs(self._config, message.element)
        if not missing:
            yield message
            return
        count(self._config.job_name, "dead_letter_input_missing")
        reason = "data input missing: " + ", ".join(missing)
        yield beam.pvalue.TaggedOutput(
            DEAD_LETTER, DeadLetter.for_message(self._config.job_name, "inputs", message, reason)
        )


class RequireInputs(Step):
    """Messages whose data inputs are missing are dead-lettered with the missing paths."""

    step_label, stage = "RequireInputs", "inputs"

    def __init__(self, config: JobConfig):
        super().__init__()
        self._config, self.job = config, config.job_name

    def step_fn(self):
        return _RequireInputsFn(self._config)
