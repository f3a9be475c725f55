"""Streaming runs on the local runner: Pub/Sub in, the lifecycle, outcomes settled, acks.

    run = run_streaming(config, MyLogic())     # returns at once; the pipeline runs
    ...
    run.stop()                                 # graceful: unfinished messages go back

The pipeline, on Beam's bundle-based DirectRunner with `--streaming`:

    ReadLeased(subscription)    pull, no ack; leases extended while in work
      -> Receive                Carried(receipt, event); uploads outside the prefix, and
                                messages restored for another subscription: finished
      -> FusedLifecycle         decode ... write outputs, carrying each receipt
      -> Settle                 publish / dead-letter durably, then ack

The lifecycle's steps run fused in one DoFn: this runner runs every ParDo of every
bundle (empty ones too) as a separate task of its single worker thread, and the
lifecycle as separate steps (about 100 tasks per message) took 0.31 s from publish
to output event on a no-op job, against about 0.1 s fused (tests/bench/streaming).

One slow element: the runner has a single worker thread and takes the next bundle
only when idle, so elements are processed one bundle at a time, and a bundle is
settled when all of it is done. While messages are slow (0.1 s or more each), each
is a bundle of its own: it is settled (its event published, acked) as soon as it is
done, and a stop waits for it alone; fast messages share a bundle (everything queued)
and its fixed cost. A slow call delays the elements behind it, never indefinitely:
`execution.timeout_s` (`DEFAULT_TIMEOUT_S` when the config sets none) bounds every
call; at the timeout the element is dead-lettered, its thread abandoned, and the
others go on. At most `max_messages` messages per subscription are leased at once,
queued or in work; the leases keep them from being redelivered meanwhile.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import apache_beam as beam
import attrs
from apache_beam.options.pipeline_options import PipelineOptions

from cadenza.core import JobConfig
from cadenza.runtime.api import JobLogic
from cadenza.runtime.deadletters import dead_letter_folder
from cadenza.runtime.lifecycle import Carried, FusedLifecycle
from cadenza.runtime.lifecycle.logic import release_shared_logic, set_up_shared_logic
from cadenza.runtime.lifecycle.records import FINISHED
from cadenza.runtime.profiles import checked_options, streaming_profile_args
from cadenza.runtime.pubsub_names import project_for
from cadenza.runtime.streaming import _direct_pubsub
from cadenza.runtime.streaming.leases import close_leases
from cadenza.runtime.streaming.receipts import Receipt
from cadenza.runtime.streaming.settle import (
    Destinations,
    Settle,
    Settlement,
    settlement,
    tally,
)
from cadenza.runtime.streaming.topology import (
    Source,
    check_exists,
    dead_letter_topic,
    output_topics,
    parent_topics,
    sources,
)
from cadenza.runtime.templates import require_filled

DEFAULT_TIMEOUT_S = 600.0


def _receive(message, subscription: str) -> Carried:
    receipt, event = Receipt.of(subscription, message)
    return Carried(receipt, event)


def _kept_by(source: Source):
    def kept(carried: Carried) -> bool:
        return source.keeps(carried.value[1])

    return kept


def _not_kept_by(source: Source):
    def ignored(carried: Carried) -> bool:
        return not source.keeps(carried.value[1])

    return ignored


def _finish_unwatched(carried: Carried) -> Settlement:
    return Settlement(FINISHED, carried.token, None)


class StreamJob(beam.PTransform):
    """The whole streaming pipeline of a job, from its subscriptions to the acks."""

    def __init__(
        self,
        config: JobConfig,
        logic: JobLogic,
        *,
        sources: Sequence[Source],
        destinations: Destinations,
        max_messages: int = 10,
        ask_parents: bool = False,
    ):
        super().__init__()
        if not sources:
            raise ValueError(f"{config.job_name}: no streaming event input to read")
        self._config, self._logic = config, logic
        self._sources, self._to, self._max = tuple(sources), destinations, max_messages
        self._ask = ask_parents

    def expand(self, pbegin):
        events, unwatched = [], []
        for i, source in enumerate(self._sources):
            received = (
                pbegin
                | f"Read{i}" >> _direct_pubsub.ReadLeased(source.subscription, self._max)
                | f"Receive{i}" >> beam.Map(_receive, source.subscription)
            )
            events.append(received | f"Watched{i}" >> beam.Filter(_kept_by(source)))
            unwatched.append(
                received
                | f"Unwatched{i}" >> beam.Filter(_not_kept_by(source))
                | f"Finish{i}" >> beam.Map(_finish_unwatched)
            )
        merged = events[0] if len(events) == 1 else tuple(events) | "Events" >> beam.Flatten()
        outcomes = (
            merged
            | FusedLifecycle(
                self._config,
                self._logic,
                shared_logic=True,
                ask_parents=self._ask,
                event_ledger=self._to.ledger,
            )
            | "Outcomes" >> beam.Map(settlement)
        )
        if unwatched:
            outcomes = (outcomes, *unwatched) | "AllOutcomes" >> beam.Flatten()
        return outcomes | Settle(self._to)


class StreamingRun:
    """A running streaming pipeline: `stop()` it; `wait()` returns if it ends or fails."""

    def __init__(self, config: JobConfig, result, subscriptions: Sequence[str]):
        self.config, self.subscriptions = config, tuple(subscriptions)
        self._result = result
        self._ended = threading.Event()
        self._stopping = threading.Lock()
        self.stopped = False
        self.error: BaseException | None = None
        threading.Thread(target=self._watch, daemon=True, name="cadenza-stream-watch").start()

    def _watch(self) -> None:
        try:
            self._result.wait_until_finish()
        except BaseException as err:
            self.error = err
        finally:
            self._ended.set()

    def wait(self, timeout: float | None = None) -> bool:
        """True once the run has stopped or failed (see `error`)."""
        return self._ended.wait(timeout)

    def settled(self) -> dict[str, int]:
        """{outcome: count} of what this job settled in this process: messages
        ("publish", "finished", "dead_letter", "dead_letter_settle", "request",
        "event_already_published"), give-backs ("given_back": one per attempt that
        failed) and ledger entries not written ("ledger_failures")."""
        return tally(self.config.job_name)

    def stop(self) -> None:
        """Stops pulling, lets the current step finish, gives unfinished messages back."""
        with self._stopping:
            if self.stopped:
                return
            self.stopped = True
        try:
            self._result.cancel()  # returns once the runner's worker is idle
        finally:
            _direct_pubsub.stop_pulling(self.subscriptions)
            close_leases(self.subscriptions, give_back=True)
            release_shared_logic()
            self._ended.set()


def streaming_options(
    config: JobConfig, profile: str, extra_args: Sequence[str] = ()
) -> PipelineOptions:
    return checked_options(config, profile, streaming_profile_args(config, profile), extra_args)


def run_streaming(
    config: JobConfig,
    logic: JobLogic,
    *,
    profile: str = "local",
    runs_root: str = ".cadenza/runs",
    extra_args: Sequence[str] = (),
    max_messages: int = 10,
    from_upstream: bool = False,
) -> StreamingRun:
    """Starts the job's streaming pipeline and returns at once.

    It reads the job's streaming event inputs and, with `from_upstream` (how deploy runs
    a job in the DAG), its parents' output events through the DAG's edge subscriptions
    and the messages sent to it; bottom-up messages whose input is missing then ask its
    parents for it (lifecycle/bottom_up.py).
    State that must outlive the process (the event ledger; dead letters when the config
    names no location) goes under `<runs_root>/<job>/`.
    """
    require_filled(config)
    project = project_for(config, profile)
    job_sources = sources(config, project, from_upstream=from_upstream)
    if config.execution.timeout_s is None:
        config = attrs.evolve(
            config, execution=attrs.evolve(config.execution, timeout_s=DEFAULT_TIMEOUT_S)
        )
    state = f"{runs_root.rstrip('/')}/{config.job_name}"
    location_given = config.dead_letter.location or not config.dead_letter.topic
    destinations = Destinations(
        job=config.job_name,
        topics=output_topics(config, project),
        ledger=f"{state}/ledger",
        dead_letter_folder=dead_letter_folder(config, state) if location_given else None,
        dead_letter_topic=dead_letter_topic(config, project),
        parent_topics=parent_topics(config, project) if from_upstream else (),
        fallback_dead_letter_folder=dead_letter_folder(config, state),
    )
    subscriptions = [s.subscription for s in job_sources]
    topics = [
        *destinations.topics,
        *filter(None, [destinations.dead_letter_topic]),
        *(topic for _, topic in destinations.parent_topics),
    ]
    check_exists(subscriptions, topics)
    options = streaming_options(config, profile, extra_args)
    set_up_shared_logic(config, logic)  # before the first message, not on it
    _direct_pubsub.register()
    pipeline = beam.Pipeline(options=options)
    _ = pipeline | "Stream" >> StreamJob(
        config,
        logic,
        sources=job_sources,
        destinations=destinations,
        max_messages=max_messages,
        ask_parents=from_upstream,
    )
    result = pipeline.run()
    return StreamingRun(config, result, subscriptions)
