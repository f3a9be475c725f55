"""A streaming job killed with SIGKILL while elements are in work, then restarted.

With Beam's own Pub/Sub read, a message is acknowledged when it is read, so a killed
job loses the messages it was working on. Here every message must still end with
exactly one output object (counted in the storage emulator's upload notifications)
and exactly one output event.
"""

import collections
import os
import signal
import subprocess
import time

from google.cloud import storage
from jobs_for_tests import gcs_config_text, put_gcs_input

from cadenza.core import Message, decode, encode
from cadenza_fixtures import python_command, subprocess_env, wait_for

ELEMENTS = [f"t{i:02d}" for i in range(12)]


def log_end(log):
    """For wait_for: the end of the job's log."""
    return lambda: f"job log:\n{log.read_text()[-3000:]}"


def test_sigkill_in_work_then_restart_gives_one_output_and_one_event_each(
    pubsub, emulators, gcs_bucket, tmp_path
):
    job = pubsub.unique("crash")
    input_topic = pubsub.topic(pubsub.unique("in"))
    subscription = pubsub.subscription(pubsub.unique("in"), input_topic)
    watch = pubsub.subscription(pubsub.unique("watch"), pubsub.topic(f"cadenza-{job}-out"))
    uploads = pubsub.subscription(
        pubsub.unique("uploads"), f"projects/{emulators.project}/topics/{emulators.uploads_topic}"
    )
    config = tmp_path / "job.yaml"
    config.write_text(
        gcs_config_text(
            gcs_bucket,
            job,
            f"events: {{inputs: [{{type: pubsub, subscription: {subscription}}}]}}\n"
            f"dead_letter: {{location: {tmp_path}/dead}}\n"
            "execution: {timeout_s: 60}",
        )
    )
    markers = tmp_path / "markers"
    markers.mkdir()
    for element in ELEMENTS:
        put_gcs_input(gcs_bucket, element, "sleep 1")
        pubsub.publish(input_topic, encode(Message.new(element)))

    log = tmp_path / "job.log"
    command = [
        *python_command(),
        "-m",
        "jobs_for_tests",
        str(config),
        "--runs",
        str(tmp_path / "runs"),
        "--max-messages",
        "2",
    ]
    env = subprocess_env(CADENZA_TEST_MARKERS=str(markers))

    def start():
        with open(log, "ab") as out:
            return subprocess.Popen(
                command, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    events: list[str] = []

    def collect() -> list[str]:
        events.extend(decode(m.data).element for m in pubsub.pull(watch))
        return events

    def in_logic(pid: int) -> set[str]:
        """Elements whose call started under 0.5 s ago: still in their 1 s of work."""
        now = time.time()
        return {
            p.name.split(".")[0]
            for p in markers.glob(f"*.{pid}.started")
            if now - p.stat().st_mtime < 0.5
        }

    first = start()
    in_work: set[str] = set()
    try:
        wait_for(lambda: len(collect()) >= 3, "three events", timeout_s=240, explain=log_end(log))
        wait_for(
            lambda: in_logic(first.pid), "an element in work", timeout_s=240, explain=log_end(log)
        )
        in_work = in_logic(first.pid)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    events.extend(decode(m.data).element for m in pubsub.drain(watch))
    assert in_work and not in_work & set(events), "killed while elements were in work"

    second = start()
    try:
        wait_for(
            lambda: set(collect()) >= set(ELEMENTS),
            "an event for every element",
            timeout_s=240,
            explain=log_end(log),
        )
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=120) == 0, log.read_text()[-3000:]
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()

    events.extend(decode(m.data).element for m in pubsub.drain(watch))
    assert collections.Counter(events) == collections.Counter(ELEMENTS), (
        f"events per element: {collections.Counter(events)}"
    )
    objects = {b.name for b in storage.Client().list_blobs(gcs_bucket, prefix="out/")}
    assert objects == {
        f"out/{e}{suffix}"
        for e in ELEMENTS
        for suffix in (".json", ".bin")  # provenance is object metadata: no sidecars
    }
    writes = collections.Counter(
        m.attributes["objectId"]
        for m in pubsub.drain(uploads)
        if m.attributes["bucketId"] == gcs_bucket and m.attributes["objectId"].startswith("out/")
    )
    assert set(writes) == objects and set(writes.values()) == {1}, writes
    assert not pubsub.pull(subscription), "every message was acknowledged"
