"""What every lifecycle step shares: its outputs, its counters.

A step's DoFn yields its main output plainly and the others as `TaggedOutput`. The
step does not rely on the runner to split tagged outputs (Beam's DaskRunner does not:
it hands every output of a ParDo to every consumer). Instead each output is wrapped
in a `Routed` record and split by explicit filters, which every runner executes the
same way. A step's result is a dict: "main" plus the lifecycle tags.
"""

from __future__ import annotations

import apache_beam as beam
import attrs
from apache_beam.metrics import Metrics

from cadenza.runtime.lifecycle.records import DEAD_LETTER, FINISHED, PUBLISH

MAIN = "main"
TAGS = (DEAD_LETTER, PUBLISH, FINISHED)


def count(job: str, name: str, n: int = 1) -> None:
    """Adds to the job's `cadenza.<job>/<name>` counter."""
    Metrics.counter(f"cadenza.{job}", name).inc(n)


@attrs.frozen
class Routed:
    """One output of a step and the output it belongs to."""

    tag: str
    value: object


class _RoutingFn(beam.DoFn):
    def __init__(self, fn: beam.DoFn):
        self._fn = fn

    def setup(self):
        self._fn.setup()

    def teardown(self):
        self._fn.teardown()

    def process(self, element):
        for output in self._fn.process(element) or ():
            if isinstance(output, beam.pvalue.TaggedOutput):
                yield Routed(output.tag, output.value)
            else:
                yield Routed(MAIN, output)


def _only(tag: str):
    def select(routed: Routed):
        if routed.tag == tag:
            yield routed.value

    return select


class RunStep(beam.PTransform):
    """Applies a step's DoFn; returns {"main": ..., "dead_letter": ..., "publish": ...,
    "finished": ...}."""

    def __init__(self, fn: beam.DoFn):
        super().__init__()
        self._fn = fn

    def expand(self, pcoll):
        routed = pcoll | "Run" >> beam.ParDo(_RoutingFn(self._fn))
        return {tag: routed | f"Only_{tag}" >> beam.FlatMap(_only(tag)) for tag in (MAIN, *TAGS)}


def with_step_outputs(label: str, fn: beam.DoFn) -> beam.PTransform:
    return label >> RunStep(fn)
