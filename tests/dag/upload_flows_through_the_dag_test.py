"""An upload flows through the whole DAG on the local stack.

`deploy --profile local` for the three jobs of the DAG (normalize, and its children
fingerprint and features), each a background streaming process on the real Pub/Sub
emulator and fake-gcs-server. A file uploaded to the uploads bucket starts normalize
(fake-gcs-server's upload notification), whose output event starts both children
(through the DAG's edge subscriptions). Uploads outside normalize's prefix are
acknowledged and not processed; an upload that is not audio is dead-lettered with its
reason; a re-uploaded excerpt is found in the catalog."""

import io
import json

import numpy as np
import pytest
import soundfile
from google.cloud import storage
from rich.console import Console

from cadenza.audio.fingerprint.synthetic import SAMPLE_RATE, melody
from cadenza.core import load_job_config
from cadenza.core.dag import Dag
from cadenza.devtools import jobctl
from cadenza.devtools.emulators import apply_env, restore_env
from cadenza.devtools.local_deploy import deploy_local
from cadenza.devtools.localjobs import LocalJobs, tail
from cadenza.devtools.localstack import LocalStack
from cadenza_fixtures import runfiles_root, wait_for

JOBS = ("normalize", "fingerprint", "features")
UPLOADS, DATA = "cadenza-uploads", "cadenza-data"


def mp3(seconds: float, seed: int) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, melody(seconds=seconds, seed=seed), SAMPLE_RATE, format="MP3")
    return buffer.getvalue()


def logs_of(jobs: LocalJobs):
    """For wait_for: the end of every job's log."""
    return lambda: "\n".join(f"--- {job} ---\n{tail(jobs.log_path(job), 30)}" for job in JOBS)


@pytest.fixture
def deployed(tmp_path, monkeypatch):
    """The three jobs deployed on a fresh local stack; yields (storage client, jobs, out)."""
    out = tmp_path / "out"
    env = {
        "NORMALIZE_INPUT": f"gs://{UPLOADS}",
        "NORMALIZE_OUTPUT": f"gs://{DATA}/normalize",
        "FINGERPRINT_OUTPUT": str(out / "fingerprint"),
        "FINGERPRINT_INDEX": str(out / "index"),
        "FEATURES_OUTPUT": str(out / "features"),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    configs = {
        job: load_job_config(runfiles_root() / "jobs" / job / "job.yaml", env=env) for job in JOBS
    }
    dag = Dag.build(list(configs.values()))
    stack, jobs = LocalStack(tmp_path / "stack"), LocalJobs(tmp_path / "jobs")
    console = Console(file=io.StringIO(), width=200)
    try:
        stack_state, _ = stack.ensure()
        previous = apply_env(stack_state.env)
        client = storage.Client(project=stack_state.project)
        for job in JOBS:
            code = deploy_local(
                configs[job],
                dag,
                module=f"jobs.{job}.pipeline",
                job=job,
                console=console,
                stack_root=stack.root,
                jobs_root=jobs.root,
                cwd=tmp_path,
            )
            assert code == 0, console.file.getvalue()
        assert {b.name for b in client.list_buckets()} == {UPLOADS, DATA}  # deploy made them
        yield client, jobs, out, stack.root
    finally:
        for job in JOBS:
            if jobs.state(job) is not None:
                jobs.stop(job)
        stack.stop()
        if "previous" in locals():
            restore_env(previous)


def test_an_upload_starts_normalize_and_both_its_children(deployed, tmp_path, capsys):
    client, jobs, out, stack_root = deployed
    uploads, data = client.bucket(UPLOADS), client.bucket(DATA)
    song = mp3(seconds=30, seed=5)
    (tmp_path / "song.mp3").write_bytes(song)
    to = ["--stack-root", str(stack_root), "upload", str(tmp_path / "song.mp3")]
    assert jobctl.main([*to, "--to", f"gs://{UPLOADS}/incoming/"]) == 0
    uploads.blob("elsewhere/ignored.mp3").upload_from_string(song)
    uploads.blob("incoming/notes.mp3").upload_from_string(b"these are notes, not audio\n" * 20)

    flac = wait_for(
        lambda: data.get_blob("normalize/incoming/song.mp3.flac"),
        "normalize",
        explain=logs_of(jobs),
    )
    audio, rate = soundfile.read(io.BytesIO(flac.download_as_bytes()))
    assert rate == 44100 and len(audio) == pytest.approx(30 * 44100, rel=0.01)

    report_path = out / "fingerprint" / "incoming" / "song.mp3.json"
    report = json.loads(
        wait_for(
            lambda: report_path.exists() and report_path.read_text(),
            "fingerprint",
            explain=logs_of(jobs),
        )
    )
    assert report["track"] == "incoming/song.mp3" and report["matches"] == []
    features_path = out / "features" / "incoming" / "song.mp3.json"
    features = json.loads(
        wait_for(
            lambda: features_path.exists() and features_path.read_text(),
            "features",
            explain=logs_of(jobs),
        )
    )
    assert features["duration_s"] == pytest.approx(30.0, abs=0.1)
    assert (out / "features" / "incoming" / "song.mp3.png").stat().st_size > 0

    def dead_letters():
        blobs = client.list_blobs(DATA, prefix="normalize/dead_letter/")
        return [json.loads(blob.download_as_bytes()) for blob in blobs]

    (record,) = wait_for(dead_letters, "a dead letter", explain=logs_of(jobs))
    assert record["job"] == "normalize" and record["element"] == "incoming/notes.mp3"
    assert "notes.mp3" in record["reason"]

    # A re-upload of 12 s from the middle of the song is found in the catalog, 9 s in.
    seconds = np.arange(int(9 * SAMPLE_RATE), int(21 * SAMPLE_RATE))
    clip = io.BytesIO()
    soundfile.write(clip, melody(seconds=30, seed=5)[seconds], SAMPLE_RATE, format="MP3")
    uploads.blob("incoming/clip.mp3").upload_from_string(clip.getvalue())
    clip_path = out / "fingerprint" / "incoming" / "clip.mp3.json"
    clip_report = json.loads(
        wait_for(
            lambda: clip_path.exists() and clip_path.read_text(), "the clip", explain=logs_of(jobs)
        )
    )
    (match,) = clip_report["matches"]
    assert match["track"] == "incoming/song.mp3"
    assert match["offset_s"] == pytest.approx(9.0, abs=0.2)

    capsys.readouterr()
    assert (
        jobctl.main(["--stack-root", str(stack_root), "ls", f"gs://{DATA}/normalize/incoming/"])
        == 0
    )
    listed = capsys.readouterr().out
    assert "gs://cadenza-data/normalize/incoming/song.mp3.flac" in listed
    assert "gs://cadenza-data/normalize/incoming/clip.mp3.flac" in listed
    assert data.get_blob("normalize/elsewhere/ignored.mp3.flac") is None
    assert not list(client.list_blobs(DATA, prefix="normalize/elsewhere"))
