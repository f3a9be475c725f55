"""What every lifecycle step shares: its output tags, its counters."""

from __future__ import annotations

import apache_beam as beam
from apache_beam.metrics import Metrics

from cadenza.runtime.lifecycle.records import DEAD_LETTER, FINISHED, PUBLISH

TAGS = (DEAD_LETTER, PUBLISH, FINISHED)


def count(job: str, name: str, n: int = 1) -> None:
    """Adds to the job's `cadenza.<job>/<name>` counter."""
    Metrics.counter(f"cadenza.{job}", name).inc(n)


def with_step_outputs(label: str, fn: beam.DoFn) -> beam.PTransform:
    """A ParDo whose outputs are `main` plus the lifecycle tags."""
    return label >> beam.ParDo(fn).with_outputs(*TAGS, main="main")
