"""Publish-to-output latency of a streaming job that acknowledges after output.

A no-op job (no data outputs: its output is the event for its children) streams on
the local runner from the Pub/Sub emulator, with every message acknowledged only
after its output event is published and recorded. Each round publishes one message
and waits for its output event on the job's topic: the round's time is the latency.
Targets (issue #4): p50 under 0.2 s, p95 under 0.5 s; both are recorded in the
results' `extra_info`. Size from CADENZA_BENCH_SIZE: `full` 300 rounds, `smoke` 20.
"""

import os
import statistics

import pytest

from cadenza.core import Message, decode, encode, parse_job_config
from cadenza.runtime import JobLogic, Result
from cadenza.runtime.streaming import run_streaming

ROUNDS = 300 if os.environ.get("CADENZA_BENCH_SIZE", "full") == "full" else 20
TARGETS_S = {"p50": 0.2, "p95": 0.5}


class NoOp(JobLogic):
    def process(self, ctx):
        return Result()


@pytest.fixture
def noop_job(pubsub, tmp_path):
    name = pubsub.unique("noop")
    topic = pubsub.topic(pubsub.unique("in"))
    subscription = pubsub.subscription(pubsub.unique("in"), topic)
    watch = pubsub.subscription(pubsub.unique("watch"), pubsub.topic(f"cadenza-{name}-out"))
    config = parse_job_config(
        f"job_name: {name}\nevents: {{inputs: [{{type: pubsub, subscription: {subscription}}}]}}",
        env={},
    )
    run = run_streaming(config, NoOp(), runs_root=str(tmp_path / "runs"))
    yield topic, watch
    run.stop()


def percentile(data: list[float], q: float) -> float:
    return statistics.quantiles(data, n=100, method="inclusive")[int(q) - 1]


def test_publish_to_output_event(benchmark, pubsub, noop_job):
    topic, watch = noop_job
    subscriber = pubsub.subscriber

    def round_trip():
        element = Message.new("track")
        pubsub.publisher.publish(topic, encode(element))
        while True:
            response = subscriber.pull(subscription=watch, max_messages=10, timeout=30)
            received = list(response.received_messages)
            if received:
                subscriber.acknowledge(subscription=watch, ack_ids=[r.ack_id for r in received])
            if any(decode(r.message.data).trace_id == element.trace_id for r in received):
                return

    benchmark.pedantic(round_trip, rounds=ROUNDS, iterations=1, warmup_rounds=3)
    data = benchmark.stats.stats.data
    measured = {"p50": percentile(data, 50), "p95": percentile(data, 95)}
    benchmark.extra_info.update(
        {f"{k}_s": round(v, 4) for k, v in measured.items()}
        | {f"{k}_target_s": v for k, v in TARGETS_S.items()}
        | {"meets_targets": all(measured[k] < TARGETS_S[k] for k in TARGETS_S)}
    )
    assert len(data) == ROUNDS
