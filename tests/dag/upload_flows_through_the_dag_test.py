"""An upload flows through the whole DAG on the local stack.

`deploy --profile local` for the three jobs of the DAG (normalize, and its children
fingerprint and features), each a background streaming process on the real Pub/Sub
emulator and fake-gcs-server. A file uploaded to the uploads bucket starts normalize
(fake-gcs-server's upload notification), whose output event starts both children
(through the DAG's edge subscriptions). Uploads outside normalize's prefix are
acknowledged and not processed; an upload that is not audio is dead-lettered with its
reason; a re-uploaded excerpt is found in the catalog. The output events' audit logs
show each message's path through the DAG. Then messages sent to the jobs' input topics
(`cadenza job send`): a bottom-up message for a track whose normalized file is missing
makes fingerprint ask normalize for it, and only those two run; a ping passes through
every job without work; a repeated message is skipped and a forced one redone."""

import io
import json

import numpy as np
import pytest
import soundfile
from dag_stack import DATA, UPLOADS, deployed_dag, logs_of, mp3, send

from cadenza.audio.fingerprint.synthetic import SAMPLE_RATE, melody
from cadenza.devtools import jobctl
from cadenza_fixtures import wait_for


@pytest.fixture
def deployed(tmp_path):
    with deployed_dag(tmp_path) as dag:
        yield dag.client, dag.jobs, dag.out, dag.stack_root, dag.events


def test_an_upload_starts_normalize_and_both_its_children(deployed, tmp_path, capsys):
    client, jobs, out, stack_root, events = deployed
    assert {b.name for b in client.list_buckets()} == {UPLOADS, DATA}  # deploy made them
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

    # Each output event's audit log is the message's path through the DAG.
    assert events.path("normalize", "incoming/song.mp3") == [("normalize", "processed")]
    for child in ("fingerprint", "features"):
        path = wait_for(lambda c=child: events.path(c, "incoming/song.mp3"), f"{child}'s event")
        assert path == [("normalize", "processed"), (child, "processed")]

    # Bottom-up: fingerprint is asked for a track normalize never converted (it was
    # uploaded outside normalize's prefix); it asks normalize, then completes. features,
    # not a recipient, does nothing.
    send(stack_root, "fingerprint", "elsewhere/ignored.mp3", "--bottom-up")
    bottom_up_report = out / "fingerprint" / "elsewhere" / "ignored.mp3.json"
    wait_for(bottom_up_report.exists, "the bottom-up report", explain=logs_of(jobs))
    assert json.loads(bottom_up_report.read_text())["matches"][0]["track"] == "incoming/song.mp3"
    assert data.get_blob("normalize/elsewhere/ignored.mp3.flac") is not None
    assert wait_for(
        lambda: events.path("fingerprint", "elsewhere/ignored.mp3"), "fingerprint's event"
    ) == [
        ("fingerprint", "triggered-parent"),
        ("normalize", "processed"),
        ("fingerprint", "processed"),
    ]
    assert events.paths("features", "elsewhere/ignored.mp3") == []
    assert not (out / "features" / "elsewhere").exists()

    # A ping goes through every job, doing no work.
    send(stack_root, "normalize", "incoming/never-uploaded.mp3", "--ping")
    for child in ("fingerprint", "features"):
        path = wait_for(
            lambda c=child: events.path(c, "incoming/never-uploaded.mp3"), f"{child}'s ping"
        )
        assert path == [("normalize", "ping"), (child, "ping")]
    assert data.get_blob("normalize/incoming/never-uploaded.mp3.flac") is None
    assert not (out / "fingerprint" / "incoming" / "never-uploaded.mp3.json").exists()

    # Sent again, a message whose outputs exist is skipped; forced, it is redone.
    before = report_path.stat().st_mtime_ns
    send(stack_root, "fingerprint", "incoming/song.mp3")
    wait_for(lambda: len(events.paths("fingerprint", "incoming/song.mp3")) == 2, "the repeat")
    assert events.paths("fingerprint", "incoming/song.mp3")[1] == [
        ("fingerprint", "skipped-output-exists")
    ]
    assert report_path.stat().st_mtime_ns == before
    send(stack_root, "fingerprint", "incoming/song.mp3", "--force")
    wait_for(lambda: len(events.paths("fingerprint", "incoming/song.mp3")) == 3, "the forced one")
    assert events.paths("fingerprint", "incoming/song.mp3")[2] == [("fingerprint", "processed")]
    assert report_path.stat().st_mtime_ns > before
    # The re-run finds the same song, uploaded elsewhere since, in the catalog.
    rerun = json.loads(report_path.read_text())
    assert "elsewhere/ignored.mp3" in {m["track"] for m in rerun["matches"]}
