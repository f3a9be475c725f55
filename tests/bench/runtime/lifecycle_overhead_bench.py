"""The runtime's overhead: a no-op job through the full lifecycle against a plain Beam
pipeline doing the same work, in the same run.

The same work: for each element, read its input file and write a small JSON output
file. The plain pipeline does only that (`Create | ParDo`); the Cadenza job does it as a
`JobLogic` that returns the JSON, so the runtime adds its lifecycle: decode, recipients,
audit, ping, the output and input existence checks, atomic writes with provenance, the
output event and the outcome records. Both run on the local profile's runner, alternately,
into fresh folders. Overhead = (lifecycle time / plain time) - 1 per message (medians);
target (issue #4): under 15%, recorded in the results' `extra_info`. All three run on
disk (the test's temporary folder) and again in memory (/dev/shm), which shows the
runtime's own CPU cost apart from the disk's.

A third pipeline, `plain_atomic`, is the plain one with the write guarantees the
lifecycle gives every output: created only if missing, never seen half-written, its
provenance written with it (an extended attribute), on disk before the bundle is done.
Its time says how much of the overhead those guarantees cost by themselves, before any
of the lifecycle's bookkeeping. Size from CADENZA_BENCH_SIZE: `full` 2000
elements x 5 rounds, `smoke` 50 x 1.
"""

import json
import os
import pathlib
import statistics
import tempfile
import time

import apache_beam as beam
from apache_beam.options.pipeline_options import PipelineOptions

from cadenza.core import parse_job_config
from cadenza.runtime import JobLogic, Result
from cadenza.runtime.batch import run_batch
from cadenza.runtime.local_files import create_file
from cadenza.runtime.profiles import profile_args

FULL = os.environ.get("CADENZA_BENCH_SIZE", "full") == "full"
ELEMENTS, ROUNDS = (2000, 5) if FULL else (50, 1)
TARGET = 0.15


class Copy(JobLogic):
    def process(self, ctx):
        data = ctx.inputs["audio"].read_bytes()
        return Result(outputs={"report": {"element": ctx.element, "bytes": len(data)}})


def config_for(root):
    return parse_job_config(
        f"""
job_name: noop
data:
  inputs: [{{name: audio, location: {root / "in"}, suffix: .txt}}]
  outputs: [{{name: report, location: {root / "out"}, suffix: .json}}]
""",
        env={},
    )


def inputs(root) -> list[str]:
    (root / "in").mkdir(parents=True)
    (root / "out").mkdir()
    elements = [f"e{i:04d}" for i in range(ELEMENTS)]
    for element in elements:
        (root / "in" / f"{element}.txt").write_text(f"content of {element}\n" * 20)
    return elements


class _CopyFn(beam.DoFn):
    def __init__(self, root):
        self._root = str(root)

    def process(self, element):
        with open(f"{self._root}/in/{element}.txt", "rb") as source:
            data = source.read()
        with open(f"{self._root}/out/{element}.json", "w") as out:
            json.dump({"element": element, "bytes": len(data)}, out)
        yield element


class _AtomicCopyFn(_CopyFn):
    """The plain copy with the lifecycle's write guarantees, through the runtime's own
    primitive: created only if missing, never seen half-written, provenance with it,
    on disk (one sync per bundle) before the bundle is done."""

    def process(self, element):
        with open(f"{self._root}/in/{element}.txt", "rb") as source:
            data = source.read()
        create_file(
            f"{self._root}/out/{element}.json",
            json.dumps({"element": element, "bytes": len(data)}).encode(),
            {"cadenza-provenance": json.dumps({"job": "noop", "element": element}).encode()},
            overwrite=False,
            durable=False,
        )
        yield element

    def finish_bundle(self):
        os.sync()


def plain(root, fn=_CopyFn, files_per_element=1) -> float:
    elements = inputs(root)
    options = PipelineOptions(profile_args(config_for(root), "local"))
    started = time.perf_counter()
    with beam.Pipeline(options=options) as pipeline:
        _ = pipeline | beam.Create(elements, reshuffle=False) | beam.ParDo(fn(root))
    took = time.perf_counter() - started
    assert len(list((root / "out").iterdir())) == files_per_element * ELEMENTS
    return took


def plain_atomic(root) -> float:
    return plain(root, _AtomicCopyFn)


def lifecycle(root) -> float:
    elements = inputs(root)
    started = time.perf_counter()
    run = run_batch(
        config_for(root), Copy(), profile="local", elements=elements, runs_root=str(root / "runs")
    )
    took = time.perf_counter() - started
    assert run.counts() == {"processed": ELEMENTS}
    return took


def medians(base) -> dict[str, float]:
    """Median ms per message of each pipeline, run alternately in fresh folders."""
    plain(base / "warm-plain")
    lifecycle(base / "warm-lifecycle")
    times = {"plain": [], "plain_atomic": [], "lifecycle": []}
    for r in range(ROUNDS):
        times["plain"].append(plain(base / f"r{r}-plain"))
        times["plain_atomic"].append(plain_atomic(base / f"r{r}-plain-atomic"))
        times["lifecycle"].append(lifecycle(base / f"r{r}-lifecycle"))
    return {name: 1000 * statistics.median(t) / ELEMENTS for name, t in times.items()}


def summary(ms: dict[str, float], prefix: str = "") -> dict:
    return {
        f"{prefix}plain_ms_per_message": round(ms["plain"], 3),
        f"{prefix}plain_atomic_ms_per_message": round(ms["plain_atomic"], 3),
        f"{prefix}lifecycle_ms_per_message": round(ms["lifecycle"], 3),
        f"{prefix}overhead": round(ms["lifecycle"] / ms["plain"] - 1, 3),
        f"{prefix}overhead_over_plain_atomic": round(ms["lifecycle"] / ms["plain_atomic"] - 1, 3),
    }


def test_lifecycle_against_plain_beam(benchmark, tmp_path):
    on_disk = medians(tmp_path)
    # the same in memory (tmpfs): the runtime's CPU cost without the disk's, whose
    # times on these machines vary several-fold from one minute to the next
    in_memory = None
    if os.path.isdir("/dev/shm"):
        with tempfile.TemporaryDirectory(dir="/dev/shm", prefix="cadenza-bench-") as shm:
            in_memory = medians(pathlib.Path(shm))
    counter = iter(range(100))
    benchmark.pedantic(
        lambda: lifecycle(tmp_path / f"bench-{next(counter)}"), rounds=1, iterations=1
    )
    overhead = on_disk["lifecycle"] / on_disk["plain"] - 1
    benchmark.extra_info.update(
        {
            "elements": ELEMENTS,
            **summary(on_disk),
            **(summary(in_memory, "in_memory_") if in_memory else {}),
            "overhead_target": TARGET,
            "meets_target": overhead < TARGET,
        }
    )
    assert on_disk["plain"] > 0 and on_disk["lifecycle"] > 0
