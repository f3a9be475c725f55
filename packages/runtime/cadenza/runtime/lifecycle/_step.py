"""What every lifecycle step shares: its outputs, its counters.

A step's DoFn yields its main output plainly and the others as `TaggedOutput`. The
step does not rely on the runner to split tagged outputs (Beam's DaskRunner does not:
it hands every output of a ParDo to every consumer). Instead each output is wrapped
in a `Routed` record and split by explicit filters, which every runner executes the
same way. A step's result is a dict: "main" plus the lifecycle tags.

Two more things every step gets from here:

- A `Carried(token, value)` element is unwrapped for the step and each output wrapped
  again with the same token: the streaming runner carries each Pub/Sub message's
  receipt through the lifecycle this way, without any step knowing about it. A carried
  element that produces nothing (an ignored storage event) comes out on `finished`
  as `Carried(token, None)`, so it can still be acknowledged.
- An exception a step did not handle dead-letters the element with the step's stage
  and the traceback, instead of failing the pipeline: nothing is lost.
"""

from __future__ import annotations

import apache_beam as beam
import attrs
from apache_beam.metrics import Metrics

from cadenza.core import Message
from cadenza.runtime.lifecycle.records import (
    DEAD_LETTER,
    FINISHED,
    PUBLISH,
    REQUEST,
    DeadLetter,
    summarize_traceback,
)

MAIN = "main"
TAGS = (DEAD_LETTER, PUBLISH, FINISHED, REQUEST)


_counters: dict[tuple[str, str], object] = {}


def count(job: str, name: str, n: int = 1) -> None:
    """Adds to the job's `cadenza.<job>/<name>` counter."""
    counter = _counters.get((job, name))
    if counter is None:
        counter = _counters[job, name] = Metrics.counter(f"cadenza.{job}", name)
    counter.inc(n)


@attrs.frozen
class Routed:
    """One output of a step and the output it belongs to."""

    tag: str
    value: object


@attrs.frozen
class Carried:
    """A value travelling with a token the steps do not look at (a message's receipt)."""

    token: object
    value: object


def carried_map(fn):
    """`fn` applied to a value, or to the value inside a `Carried` (keeping its token)."""

    def apply(item):
        if isinstance(item, Carried):
            return Carried(item.token, fn(item.value))
        return fn(item)

    return apply


def unhandled(job: str, stage: str, item, error: BaseException) -> DeadLetter:
    """The dead letter for an element whose step raised."""
    reason = f"unexpected error in {stage}: {type(error).__name__}: {error}"
    if isinstance(item, Message):
        return DeadLetter.for_message(job, stage, item, reason, error)
    data = getattr(item, "data", item[0] if isinstance(item, tuple) else item)
    raw = bytes(data) if isinstance(data, bytes | bytearray) else repr(item).encode()
    return DeadLetter(
        job=job, stage=stage, reason=reason, message=raw, traceback=summarize_traceback(error)
    )


class _RoutingFn(beam.DoFn):
    def __init__(self, fn: beam.DoFn, job: str, stage: str):
        self._fn, self._job, self._stage = fn, job, stage

    def setup(self):
        self._fn.setup()

    def teardown(self):
        self._fn.teardown()

    def start_bundle(self):
        self._fn.start_bundle()

    def finish_bundle(self):
        self._fn.finish_bundle()  # steps' bundle hooks keep state, never emit

    def split(self, element) -> tuple[list, list[Routed]]:
        """The step's outputs for one element: its main outputs, and the others routed."""
        if isinstance(element, Carried):
            return self._split_carried(element)
        return self._split_value(element)

    def _split_value(self, element) -> tuple[list, list[Routed]]:
        try:
            outputs = list(self._fn.process(element) or ())
        except Exception as err:
            count(self._job, f"dead_letter_{self._stage}")
            return [], [Routed(DEAD_LETTER, unhandled(self._job, self._stage, element, err))]
        main, others = [], []
        for output in outputs:
            if isinstance(output, beam.pvalue.TaggedOutput):
                others.append(Routed(output.tag, output.value))
            else:
                main.append(output)
        return main, others

    def _split_carried(self, element: Carried) -> tuple[list, list[Routed]]:
        token = element.token
        main, others = self._split_value(element.value)
        if not main and not others:
            return [], [Routed(FINISHED, Carried(token, None))]
        main = [Carried(token, value) for value in main]
        others = [Routed(r.tag, Carried(token, r.value)) for r in others]
        return main, others

    def process(self, element):
        main, others = self.split(element)
        for value in main:
            yield Routed(MAIN, value)
        yield from others


def only_tag(tag: str):
    """A FlatMap function keeping the values of `Routed` records with `tag`."""

    def select(routed: Routed):
        if routed.tag == tag:
            yield routed.value

    return select


class RunStep(beam.PTransform):
    """Applies a step's DoFn; returns {"main": ..., "dead_letter": ..., "publish": ...,
    "finished": ...}."""

    def __init__(self, fn: beam.DoFn, job: str, stage: str):
        super().__init__()
        self._fn, self._job, self._stage = fn, job, stage

    def expand(self, pcoll):
        routed = pcoll | "Run" >> beam.ParDo(
            _RoutingFn(self._fn, self._job, self._stage)
        ).with_output_types(Routed)
        return {tag: routed | f"Only_{tag}" >> beam.FlatMap(only_tag(tag)) for tag in (MAIN, *TAGS)}


def with_step_outputs(label: str, fn: beam.DoFn, *, job: str, stage: str) -> beam.PTransform:
    """`label >> RunStep(fn)`; `job` and `stage` name the dead letters of unhandled errors."""
    return label >> RunStep(fn, job, stage)


class Step(beam.PTransform):
    """A lifecycle step: one DoFn (`step_fn()`) of `job`, its ParDo labelled
    `step_label`, its dead letters naming `stage`. Applied, it returns
    {"main", "dead_letter", "publish", "finished"}; `FusedSteps` runs several in one DoFn."""

    step_label = "Step"
    stage = "step"
    job = ""

    def step_fn(self) -> beam.DoFn:
        raise NotImplementedError

    def expand(self, pcoll):
        return pcoll | with_step_outputs(
            self.step_label, self.step_fn(), job=self.job, stage=self.stage
        )


class _FusedFn(beam.DoFn):
    def __init__(self, fns):
        self._fns = fns

    def setup(self):
        for fn in self._fns:
            fn.setup()

    def teardown(self):
        for fn in self._fns:
            fn.teardown()

    def start_bundle(self):
        for fn in self._fns:
            fn.start_bundle()

    def finish_bundle(self):
        for fn in self._fns:
            fn.finish_bundle()

    def process(self, element):
        current = [element]
        for fn in self._fns:
            following = []
            for item in current:
                main, others = fn.split(item)
                following += main
                yield from others
            current = following
        for value in current:
            yield Routed(MAIN, value)


class FusedSteps(beam.PTransform):
    """Steps chained inside one DoFn: elements -> `Routed(tag, value)` for every
    element's final outputs (`publish`, `finished`, `dead_letter`, or `main` out of the
    last step). The same steps and results as applying them one by one, for runners
    that pay per step: the bundle-based DirectRunner runs each ParDo of each bundle,
    empty or not, as a task of its one worker thread."""

    def __init__(self, steps):
        super().__init__()
        self._steps = tuple(steps)

    def expand(self, pcoll):
        fns = [_RoutingFn(s.step_fn(), s.job, s.stage) for s in self._steps]
        return pcoll | "Fused" >> beam.ParDo(_FusedFn(fns)).with_output_types(Routed)
