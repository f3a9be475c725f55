"""The audio_info job on real files through a real Beam pipeline."""

import json

import apache_beam as beam
import numpy as np
import soundfile as sf
from apache_beam.runners.portability.fn_api_runner import FnApiRunner
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from jobs.audio_info import pipeline
from jobs.audio_info.transforms import DescribeAudio


def write_audio(path, seconds, rate, channels, **kwargs):
    frames = int(seconds * rate)
    t = np.arange(frames) / rate
    audio = np.stack([0.3 * np.sin(2 * np.pi * 440 * t)] * channels, axis=1)
    sf.write(path, audio, rate, **kwargs)


def test_describe_audio_transform_splits_good_and_bad():
    good = ("one.wav", _wav_bytes(1.0, 8000))
    bad = ("junk.wav", b"definitely not audio")
    empty = ("empty.flac", b"")
    with TestPipeline(runner=FnApiRunner()) as p:
        results = p | beam.Create([good, bad, empty]) | DescribeAudio()
        durations = results.described | beam.Map(lambda r: (r["file"], r["duration_s"]))
        reasons = results.failed | beam.Map(
            lambda r: (r["file"], r["reason"].split(":")[1].strip())
        )
        assert_that(durations, equal_to([("one.wav", 1.0)]), label="described")
        assert_that(
            reasons,
            equal_to(
                [
                    ("junk.wav", "not a readable audio file (20 bytes, starts with b'definite')"),
                    ("empty.flac", "empty file (0 bytes)"),
                ]
            ),
            label="failed",
        )


def _wav_bytes(seconds, rate):
    import io

    buf = io.BytesIO()
    sf.write(buf, np.zeros(int(seconds * rate), "float32"), rate, format="WAV")
    return buf.getvalue()


def test_job_writes_info_and_dead_letters(tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    write_audio(inputs / "stereo.wav", 1.5, 16000, 2)
    write_audio(inputs / "mono.flac", 2.0, 44100, 1)
    write_audio(inputs / "music.ogg", 3.0, 22050, 1, format="OGG", subtype="VORBIS")
    (inputs / "notes.wav").write_text("not audio")
    out = tmp_path / "out"

    assert pipeline.main(["--input", f"{inputs}/*", "--output", str(out)]) == 0

    rows = {
        r["file"]: r
        for r in map(json.loads, (out / "audio_info.jsonl").read_text().split("\n")[:-1])
    }
    assert set(rows) == {"stereo.wav", "mono.flac", "music.ogg"}
    assert (rows["stereo.wav"]["sample_rate"], rows["stereo.wav"]["channels"]) == (16000, 2)
    assert rows["stereo.wav"]["duration_s"] == 1.5
    assert (rows["mono.flac"]["format"], rows["mono.flac"]["duration_s"]) == ("FLAC", 2.0)
    assert rows["music.ogg"]["format"] == "OGG"
    assert abs(rows["music.ogg"]["duration_s"] - 3.0) < 0.01
    dead = [json.loads(line) for line in (out / "dead_letter.jsonl").read_text().splitlines()]
    assert [d["file"] for d in dead] == ["notes.wav"]
    assert "not a readable audio file" in dead[0]["reason"]
    printed = capsys.readouterr().out
    assert "3 files described" in printed and "notes.wav" in printed
