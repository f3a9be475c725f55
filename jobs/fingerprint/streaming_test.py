"""The fingerprint job streaming from events: the Pub/Sub emulator delivers its parent's
output messages; each track is fingerprinted into the catalog once and its event published."""

import json

import soundfile as sf

from cadenza.audio.fingerprint.synthetic import melody
from cadenza.core import Message, decode, encode, load_job_config
from cadenza.runtime.streaming import run_streaming
from cadenza_fixtures import wait_for
from jobs.fingerprint.logic import Fingerprint
from jobs.fingerprint.pipeline import CONFIG

RATE = 22050


def test_streamed_tracks_are_cataloged_matched_and_announced(tmp_path, pubsub):
    normalized, out, index = tmp_path / "normalized", tmp_path / "out", tmp_path / "index"
    normalized.mkdir()
    song = melody(40, seed=21, sample_rate=RATE)
    sf.write(normalized / "song.wav.flac", song, RATE)
    sf.write(normalized / "clip.mp3.flac", song[10 * RATE : 30 * RATE], RATE)
    (normalized / "junk.ogg.flac").write_bytes(b"fLaC" + bytes(64))
    parent_topic = pubsub.topic(pubsub.unique("normalize-out"))
    subscription = pubsub.subscription(pubsub.unique("fingerprint-in"), parent_topic)
    name = pubsub.unique("fingerprint")
    watch = pubsub.subscription(pubsub.unique("watch"), pubsub.topic(f"cadenza-{name}-out"))
    config = load_job_config(
        CONFIG,
        env={
            "NORMALIZE_OUTPUT": str(normalized),
            "FINGERPRINT_OUTPUT": str(out),
            "FINGERPRINT_INDEX": str(index),
        },
        overrides=[
            f"job_name={name}",
            f"events.inputs=[{{type: pubsub, subscription: {subscription}}}]",
        ],
        params_class=Fingerprint.params_class,
    )
    run = run_streaming(config, Fingerprint(), runs_root=str(tmp_path / "runs"))
    events = []
    try:
        for settled, element in enumerate(("song.wav", "clip.mp3", "junk.ogg"), start=1):
            pubsub.publish(parent_topic, encode(Message.new(element)))
            # one at a time, so the clip is matched against a catalog that has the song
            wait_for(lambda n=settled: sum(run.settled().values()) >= n, f"{element} to be settled")

        def two_events():
            events.extend(decode(m.data) for m in pubsub.pull(watch))
            return len(events) >= 2

        wait_for(two_events, "two output events")
    finally:
        run.stop()
    assert sorted(m.element for m in events) == ["clip.mp3", "song.wav"]
    clip = json.loads((out / "clip.mp3.json").read_text())
    (match,) = clip["matches"]
    assert match["track"] == "song.wav" and abs(match["offset_s"] - 10) <= 0.1
    (dead,) = [json.loads(p.read_text()) for p in (out / "dead_letter").iterdir()]
    assert dead["element"] == "junk.ogg" and "AudioDecodeError" in dead["reason"]
    assert run.settled().get("dead_letter") == 1
