"""Upload-to-final-output latency of one file through the DAG on the local stack.

The three jobs are deployed as in `//tests/dag` (normalize, then fingerprint and
features, each a streaming process on the Pub/Sub emulator and fake-gcs-server). Each
round uploads one new 20 s MP3 to `gs://cadenza-uploads/incoming/` and waits until both
final outputs exist (fingerprint's report and features' JSON): the round's time is the
latency, from the start of the upload. Files go one at a time, so this is latency, not
throughput. The median time to normalize's output event (from the audit log) is kept
in `extra_info` too. Size from CADENZA_BENCH_SIZE: `full` 20 files, `smoke` 3.
"""

import itertools
import os
import statistics
import time

from dag_stack import UPLOADS, deployed_dag, mp3

ROUNDS = 20 if os.environ.get("CADENZA_BENCH_SIZE", "full") == "full" else 3
TIMEOUT_S = 120.0


def test_upload_to_final_output(benchmark, tmp_path):
    seeds = itertools.count(100)
    normalized_after = []
    with deployed_dag(tmp_path) as dag:
        uploads = dag.client.bucket(UPLOADS)

        def next_file():
            seed = next(seeds)
            return (f"incoming/track-{seed}.mp3", mp3(seconds=20, seed=seed)), {}

        def upload_and_wait(name, data):
            started = time.time()
            uploads.blob(name).upload_from_string(data)
            finals = [
                dag.out / "fingerprint" / f"{name}.json",
                dag.out / "features" / f"{name}.json",
            ]
            deadline = time.monotonic() + TIMEOUT_S
            while not all(path.exists() for path in finals):
                if time.monotonic() > deadline:
                    raise AssertionError(f"{name}: no final outputs after {TIMEOUT_S:.0f} s")
                time.sleep(0.01)
            normalized = dag.events.at("normalize", name)
            if normalized is not None:
                normalized_after.append(normalized - started)

        benchmark.pedantic(upload_and_wait, setup=next_file, rounds=ROUNDS, iterations=1)
    times = sorted(benchmark.stats.stats.data)
    benchmark.extra_info["files"] = len(times)
    benchmark.extra_info["p50_s"] = round(statistics.median(times), 3)
    benchmark.extra_info["p95_s"] = round(times[min(len(times) - 1, int(0.95 * len(times)))], 3)
    if normalized_after:
        benchmark.extra_info["normalize_done_p50_s"] = round(statistics.median(normalized_after), 3)
