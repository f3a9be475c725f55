"""The message lifecycle: small composite transforms, applied in this order.

decode -> recipients -> ping -> outputs exist? -> inputs exist (or, bottom-up, ask the
parents)? -> logic -> write outputs -> publish. Each step's failures go to the
dead-letter output with a reason; `Lifecycle` chains them and returns the results of a
run; `FusedLifecycle` runs the same steps inside one DoFn (for the bundle-based
DirectRunner, where every step of every bundle costs a task: streaming latency).
"""

from __future__ import annotations

import apache_beam as beam

from cadenza.core import JobConfig
from cadenza.runtime.api import JobLogic
from cadenza.runtime.lifecycle._step import MAIN, Carried, FusedSteps, Routed, Step
from cadenza.runtime.lifecycle.decoding import DecodeMessages
from cadenza.runtime.lifecycle.existence import RequireInputs, SkipExistingOutputs
from cadenza.runtime.lifecycle.logic import RunLogic
from cadenza.runtime.lifecycle.publishing import EncodeForChildren
from cadenza.runtime.lifecycle.records import DEAD_LETTER, FINISHED, PUBLISH, REQUEST, DeadLetter
from cadenza.runtime.lifecycle.routing import CheckRecipients, PassPings
from cadenza.runtime.lifecycle.writing import WriteOutputs

__all__ = [
    "Carried",
    "CheckRecipients",
    "DeadLetter",
    "DecodeMessages",
    "EncodeForChildren",
    "FusedLifecycle",
    "Lifecycle",
    "PassPings",
    "RequireInputs",
    "Routed",
    "RunLogic",
    "SkipExistingOutputs",
    "WriteOutputs",
]


class Lifecycle(beam.PTransform):
    """Raw events -> {"published": encoded messages for the children,
    "published_messages": the same before encoding (audited, this job's ids),
    "finished": messages this job did not act on, "dead_letter": DeadLetter records,
    "requested": bottom_up.ParentRequest records (only with `ask_parents`)}.

    Events may be `Carried(token, event)`: every output then carries its event's token
    (see lifecycle/_step.py). `shared_logic=True` sets the logic up once per process
    (streaming on the bundle-based DirectRunner, which sets DoFns up per bundle).
    Each step is its own transform, as runners that show the job graph (Dataflow)
    present it; `FusedLifecycle` runs the same steps inside one DoFn.
    `ask_parents=True` (a job deployed in the DAG) turns a bottom-up message whose input
    is missing into a request to the job's parents (lifecycle/bottom_up.py).
    `sync_per_bundle=True` (batch runs) makes local outputs durable with one sync per
    bundle instead of an fsync per file (lifecycle/writing.py).
    `ids_key` (batch runs) makes `str` events element ids, each its own message, with
    an id derived from the key and the element (lifecycle/decoding.py).
    `image_digest` (the workers' image, when pinned) goes into each output's provenance.
    `event_ledger` (streaming) finishes a message sent twice without publishing its
    event again (lifecycle/existence.py).
    """

    def __init__(
        self,
        config: JobConfig,
        logic: JobLogic,
        *,
        shared_logic: bool = False,
        ask_parents: bool = False,
        sync_per_bundle: bool = False,
        ids_key: str | None = None,
        event_ledger: str | None = None,
        image_digest: str | None = None,
    ):
        super().__init__()
        self._config, self._logic, self._shared = config, logic, shared_logic
        self._ask, self._per_bundle, self._ids_key = ask_parents, sync_per_bundle, ids_key
        self._ledger, self._image_digest = event_ledger, image_digest

    def steps(self) -> list[tuple[str, Step]]:
        """(label, step) in the order they run."""
        config = self._config
        job, version = config.job_name, config.version
        return [
            ("Decode", DecodeMessages(job, config.events.decode_policy, self._ids_key)),
            ("Recipients", CheckRecipients(job, version)),
            ("Ping", PassPings(job, version)),
            ("SkipExisting", SkipExistingOutputs(config, self._ledger)),
            ("RequireInputs", RequireInputs(config, self._ask)),
            ("Logic", RunLogic(config, self._logic, shared=self._shared)),
            ("Write", WriteOutputs(config, self._per_bundle, self._image_digest)),
        ]

    def expand(self, events):
        job = self._config.job_name
        published, finished, dead, requested = [], [], [], []
        pcoll = events
        for label, step in self.steps():
            out = pcoll | label >> step
            published.append(out[PUBLISH])
            finished.append(out[FINISHED])
            dead.append(out[DEAD_LETTER])
            requested.append(out[REQUEST])
            pcoll = out[MAIN]
        done = tuple(published) | "AllPublished" >> beam.Flatten()
        return {
            "published_messages": done,
            "published": done | "Encode" >> EncodeForChildren(job),
            "finished": tuple(finished) | "AllFinished" >> beam.Flatten(),
            "dead_letter": tuple(dead) | "AllDeadLetters" >> beam.Flatten(),
            "requested": tuple(requested) | "AllRequests" >> beam.Flatten(),
        }


class FusedLifecycle(Lifecycle):
    """The lifecycle's steps inside one DoFn: raw events (or `Carried` ones) ->
    `Routed(tag, value)`: "publish" (a Message to publish, audited), "finished" (a
    Message, or None for an ignored carried event), "dead_letter" (a DeadLetter) or
    "request" (a bottom_up.ParentRequest, with `ask_parents`). One transform instead
    of about forty per element: for the local runner and Dask, where each costs every
    element a task. Options as `Lifecycle`'s."""

    def expand(self, events):
        return events | FusedSteps(step for _, step in self.steps())
