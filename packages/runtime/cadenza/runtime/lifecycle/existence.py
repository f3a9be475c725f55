"""Steps 5-6: skip messages whose outputs exist (unless forced); require the inputs
(or, bottom-up, ask the parents for them: lifecycle/bottom_up.py).

Outputs another job wrote (their provenance names it) are not this job's work: the
message is dead-lettered, naming that job (two jobs writing the same files would
otherwise skip every element, silently). Outputs written by this very message (their
provenance names its id: an earlier delivery wrote them, then the job stopped before
acknowledging) are its own work: it is audited `processed`, as the first delivery
would have been, not `skipped`. Either way the message goes on with the payload the
logic returned with those outputs (kept in their provenance), as it would had the logic
run now. A forced message always runs:
its id alone cannot tell a redelivery from the same message sent again (ids derived
from an upload or a parent's message repeat), and force must redo the work.

Streaming, a message whose outputs it wrote itself and whose event the ledger holds
(cadenza.runtime.event_ledger) is one message sent twice, under two Pub/Sub ids: it is
finished (acknowledged) without publishing its event again. A redelivery after a crash
before the publish finds no entry, and publishes.

Checks work on local paths, gs:// and any Beam filesystem (cadenza.runtime.storage) and
are batched per bundle by `BundleExistence`: the first LISTING_AFTER checks in a folder are
single lookups, and once a bundle has asked that many, one listing of the folder answers
the rest of the bundle. The listing reads at most NAMES_PER_LOOKUP names per lookup
made before it (a listing page holds 1000 names for one request, as a lookup is one):
a bigger folder is left to lookups, so a listing never costs more requests than the
lookups before it. No element waits for others: each is answered when it comes.
"""

from __future__ import annotations

import base64
import logging

import apache_beam as beam
import attrs

from cadenza.core import JobConfig, Outcome
from cadenza.runtime.event_ledger import event_published
from cadenza.runtime.lifecycle._step import Step, count
from cadenza.runtime.lifecycle.bottom_up import ASK, WAIT, ParentRequest, next_step
from cadenza.runtime.lifecycle.publishing import child_message_id
from cadenza.runtime.lifecycle.records import DEAD_LETTER, FINISHED, PUBLISH, REQUEST, DeadLetter
from cadenza.runtime.storage import exists, list_folder, read_provenance

LOGGER = logging.getLogger(__name__)

LISTING_AFTER = 8
NAMES_PER_LOOKUP = 1000


def _split(path: str) -> tuple[str, str]:
    """(folder, name) of a path, the folder as `list_folder` takes it."""
    folder, slash, name = path.rpartition("/")
    return (folder, name) if slash else (".", path)


class BundleExistence:
    """Existence checks for one bundle (see the module docstring)."""

    def __init__(self, listing_after: int = LISTING_AFTER):
        self._after = listing_after
        self._asked: dict[str, int] = {}
        self._listed: dict[str, frozenset[str] | None] = {}  # None: listing failed
        self.lookups = self.listings = 0

    def exists(self, path: str) -> bool:
        folder, name = _split(path)
        listed = self._listed.get(folder)
        if listed is not None:
            return name in listed
        self._asked[folder] = self._asked.get(folder, 0) + 1
        if folder not in self._listed and self._asked[folder] > self._after:
            self._listed[folder] = listed = self._list(folder)
            if listed is not None:
                return name in listed
        self.lookups += 1
        return exists(path)

    def _list(self, folder: str) -> frozenset[str] | None:
        self.listings += 1
        try:
            # None when bigger than the lookups so far could have paged through
            return list_folder(folder, max_names=self._asked[folder] * NAMES_PER_LOOKUP)
        except Exception:  # a folder that cannot be listed: single lookups it is
            return None


def _single(path: str) -> bool:
    return exists(path)


def outputs_done(config: JobConfig, element: str, exists=_single) -> bool:
    """True when every checked output of `element` exists (in this job version, if asked)."""
    checked = [loc for loc in config.data.outputs if not loc.skip_existence_check]
    if not checked:
        return False
    for loc in checked:
        path = loc.path_for(element)
        if not exists(path):
            return False
        if config.reprocess_on_version_change:
            provenance = read_provenance(path) or {}
            if provenance.get("job_version") != config.version:
                return False
    return True


def output_provenance(config: JobConfig, element: str) -> dict:
    """The provenance of the element's first checked output ({} if it has none)."""
    checked = [loc for loc in config.data.outputs if not loc.skip_existence_check]
    if not checked:
        return {}
    return read_provenance(checked[0].path_for(element)) or {}


def missing_inputs(config: JobConfig, element: str, exists=_single) -> list[str]:
    return [
        f"{loc.name} ({loc.path_for(element)})"
        for loc in config.data.inputs
        if not loc.skip_existence_check and not exists(loc.path_for(element))
    ]


class _BundleChecksFn(beam.DoFn):
    """A DoFn with a `BundleExistence` for each bundle."""

    def __init__(self, config: JobConfig):
        self._config = config
        self._checks = None

    def start_bundle(self):
        self._checks = BundleExistence()

    def finish_bundle(self):
        checks, self._checks = self._checks, None
        if checks is not None:
            count(self._config.job_name, "existence_lookups", checks.lookups)
            count(self._config.job_name, "existence_listings", checks.listings)

    def exists(self, path: str) -> bool:
        if self._checks is None:  # a runner that did not start the bundle: no batching
            return exists(path)
        return self._checks.exists(path)


def _foreign(config: JobConfig, written: dict) -> str:
    """Why an element whose outputs another job wrote is dead-lettered."""
    checked = next(loc for loc in config.data.outputs if not loc.skip_existence_check)
    return (
        f"output {checked.name} ({checked.location}) exists, written by job "
        f"{written['job']!r}: two jobs write the same files (check this job's "
        "data.outputs locations, and the variables they come from; if this job was "
        f"called {written['job']!r} before, send the element again with force to rewrite it)"
    )


class _SkipExistingFn(_BundleChecksFn):
    def __init__(self, config: JobConfig, event_ledger: str | None = None):
        super().__init__(config)
        self._ledger = event_ledger

    def process(self, message):
        if message.force or not outputs_done(self._config, message.element, self.exists):
            yield message
            return
        written = output_provenance(self._config, message.element)
        own = bool(message.message_id) and written.get("message_id") == message.message_id
        job = self._config.job_name
        if written.get("job") not in (None, job):  # not this job's work: nothing is done
            count(job, "dead_letter_outputs")
            yield beam.pvalue.TaggedOutput(
                DEAD_LETTER,
                DeadLetter.for_message(job, "outputs", message, _foreign(self._config, written)),
            )
            return
        if own and self._ledger and event_published(self._ledger, child_message_id(job, message)):
            count(job, "duplicate_messages")  # sent twice: the first's event went out
            LOGGER.warning(
                "%s: message %s came again: its outputs and its event are out already, so "
                "nothing is published (to redo it send it with force; to reach the children "
                "again, send it as a new message)",
                job,
                message.message_id,
            )
            yield beam.pvalue.TaggedOutput(FINISHED, message)
            return
        if own:
            count(self._config.job_name, "processed_before_redelivery")
            outcome = Outcome.PROCESSED
        else:
            count(self._config.job_name, "skipped_output_exists")
            outcome = Outcome.SKIPPED_OUTPUT_EXISTS
        audited = message.with_audit(
            self._config.job_name, outcome, job_version=self._config.version
        )
        if "payload" in written:  # the payload the logic returned with these outputs
            audited = attrs.evolve(audited, payload=base64.b64decode(written["payload"]))
        yield beam.pvalue.TaggedOutput(PUBLISH, audited)


class SkipExistingOutputs(Step):
    """Messages whose outputs all exist are published without work, unless `force`.
    With the streaming runtime's `event_ledger`, a message whose outputs it wrote itself
    and whose event the ledger holds is a copy sent again: finished, nothing published."""

    step_label, stage = "SkipExisting", "outputs"

    def __init__(self, config: JobConfig, event_ledger: str | None = None):
        super().__init__()
        self._ledger = event_ledger
        self._config, self.job = config, config.job_name

    def step_fn(self):
        return _SkipExistingFn(self._config, self._ledger)


class _RequireInputsFn(_BundleChecksFn):
    def __init__(self, config: JobConfig, ask_parents: bool):
        super().__init__(config)
        self._ask = ask_parents and bool(config.upstream)

    def process(self, message):
        missing = missing_inputs(self._config, message.element, self.exists)
        if not missing:
            yield message
            return
        job = self._config.job_name
        reason = "data input missing: " + ", ".join(missing)
        if self._ask and message.recipients.limited:
            step = next_step(job, tuple(self._config.upstream), message, self._config.version)
            if step.action == ASK:
                count(job, "triggered_parent")
                yield beam.pvalue.TaggedOutput(REQUEST, ParentRequest(step.message, step.parents))
                return
            if step.action == WAIT:
                count(job, "waiting_for_parent")
                yield beam.pvalue.TaggedOutput(FINISHED, message)
                return
            reason += f", still, after {', '.join(step.parents)} ran for it (bottom-up)"
        count(job, "dead_letter_input_missing")
        yield beam.pvalue.TaggedOutput(
            DEAD_LETTER, DeadLetter.for_message(job, "inputs", message, reason)
        )


class RequireInputs(Step):
    """Messages whose data inputs are missing are dead-lettered with the missing paths;
    with `ask_parents` (a job deployed in the DAG), bottom-up ones ask the job's parents
    to produce them instead (lifecycle/bottom_up.py)."""

    step_label, stage = "RequireInputs", "inputs"

    def __init__(self, config: JobConfig, ask_parents: bool = False):
        super().__init__()
        self._config, self.job, self._ask = config, config.job_name, ask_parents

    def step_fn(self):
        return _RequireInputsFn(self._config, self._ask)
