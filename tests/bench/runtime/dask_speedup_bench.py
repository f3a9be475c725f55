"""The `dask` profile's speed-up from one worker to two, on CPU-bound work.

A job whose logic burns CPU (a SHA-256 chain over its input, about 0.5 s per element)
runs its batch form on two real dask.distributed clusters on 127.0.0.1, one with one
worker and one with two (single-threaded worker processes), alternately in the same
run, each time into fresh output folders. The speed-up is the median one-worker time
over the median two-worker time; target (issue #4): 1.6x or more, recorded in the
results' `extra_info` with both medians. Size from CADENZA_BENCH_SIZE: `full` 64
elements x 3 rounds, `smoke` 8 elements x 1 round.
"""

import hashlib
import os
import statistics
import time

from cadenza.core import parse_job_config
from cadenza.devtools.dask_cluster import DaskCluster
from cadenza.runtime import JobLogic, Result
from cadenza.runtime.batch import run_batch

FULL = os.environ.get("CADENZA_BENCH_SIZE", "full") == "full"
ELEMENTS, ROUNDS = (64, 3) if FULL else (8, 1)
CHAIN = 800_000  # SHA-256 rounds per element: about 0.5 s of one core here
TARGET = 1.6


class Burn(JobLogic):
    """CPU-bound work: a SHA-256 chain seeded by the input."""

    def process(self, ctx):
        digest = ctx.inputs["seed"].read_bytes()
        for _ in range(CHAIN):
            digest = hashlib.sha256(digest).digest()
        return Result(outputs={"digest": {"element": ctx.element, "sha256": digest.hex()}})


def config_for(root, scheduler):
    return parse_job_config(
        f"""
job_name: burn
data:
  inputs: [{{name: seed, location: {root / "in"}, suffix: .txt}}]
  outputs: [{{name: digest, location: {root / "out"}, suffix: .json}}]
profiles:
  dask: {{runner: dask, scheduler: "{scheduler}"}}
""",
        env={},
    )


def timed_run(root, scheduler) -> float:
    (root / "in").mkdir(parents=True)
    elements = [f"e{i:03d}" for i in range(ELEMENTS)]
    for element in elements:
        (root / "in" / f"{element}.txt").write_text(element)
    started = time.perf_counter()
    run = run_batch(
        config_for(root, scheduler),
        Burn(),
        profile="dask",
        elements=elements,
        runs_root=str(root / "runs"),
    )
    took = time.perf_counter() - started
    assert run.counts() == {"processed": ELEMENTS}
    return took


def test_one_worker_against_two(benchmark, tmp_path):
    times = {1: [], 2: []}
    with (
        DaskCluster(tmp_path / "one", workers=1) as one,
        DaskCluster(tmp_path / "two", workers=2) as two,
    ):
        clusters = {1: one, 2: two}
        for workers in (1, 2):  # warm-up: imports and pickling on every worker
            timed_run(tmp_path / f"warm-{workers}", clusters[workers])
        for r in range(ROUNDS):
            for workers in (1, 2):
                times[workers].append(timed_run(tmp_path / f"r{r}-w{workers}", clusters[workers]))
        last = iter(range(100))
        benchmark.pedantic(
            lambda: timed_run(tmp_path / f"bench-{next(last)}", two), rounds=1, iterations=1
        )
    one_s, two_s = statistics.median(times[1]), statistics.median(times[2])
    benchmark.extra_info.update(
        {
            "elements": ELEMENTS,
            "one_worker_s": round(one_s, 3),
            "two_workers_s": round(two_s, 3),
            "speedup": round(one_s / two_s, 3),
            "speedup_target": TARGET,
            "meets_target": one_s / two_s >= TARGET,
        }
    )
    assert one_s > 0 and two_s > 0
