"""The audio-info job end to end: real files, the runtime's lifecycle, the local runner."""

import json

import numpy as np
import pytest
import soundfile as sf

from cadenza.runtime.storage import read_provenance
from jobs.audio_info import pipeline
from jobs.audio_info.transforms import AudioInfoError, describe_audio


def write_audio(path, seconds, rate, channels, **kwargs):
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, np.stack([0.3 * np.sin(2 * np.pi * 440 * t)] * channels, axis=1), rate, **kwargs)


def test_job_describes_files_and_dead_letters_the_rest(tmp_path, monkeypatch, capsys):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    write_audio(inputs / "stereo.wav", 1.5, 16000, 2)
    write_audio(inputs / "mono.flac", 2.0, 44100, 1)
    write_audio(inputs / "music.ogg", 3.0, 22050, 1, format="OGG", subtype="VORBIS")
    (inputs / "notes.wav").write_text("not audio")
    monkeypatch.setenv("AUDIO_INFO_INPUT", str(inputs))
    monkeypatch.setenv("AUDIO_INFO_OUTPUT", str(out))

    assert pipeline.main(["--runs", str(tmp_path / "runs")]) == 0

    rows = {
        p.name: json.loads(p.read_text()) for p in out.glob("*.json") if "provenance" not in p.name
    }
    assert set(rows) == {"stereo.wav.json", "mono.flac.json", "music.ogg.json"}
    stereo = rows["stereo.wav.json"]
    assert (stereo["sample_rate"], stereo["channels"], stereo["duration_s"]) == (16000, 2, 1.5)
    assert (rows["mono.flac.json"]["format"], rows["mono.flac.json"]["duration_s"]) == ("FLAC", 2.0)
    assert abs(rows["music.ogg.json"]["duration_s"] - 3.0) < 0.01
    provenance = read_provenance(str(out / "stereo.wav.json"))
    assert provenance["job"] == "audio-info" and provenance["inputs"]["audio"].startswith("sha256:")
    (dead,) = [json.loads(p.read_text()) for p in (out / "dead_letter").iterdir()]
    assert dead["element"] == "notes.wav" and dead["stage"] == "logic"
    assert "AudioInfoError: notes.wav: not a readable audio file (9 bytes" in dead["reason"]
    printed = capsys.readouterr().out
    assert "3 files described" in printed and "dead_letter:logic" in printed


def test_second_run_skips_what_exists(tmp_path, monkeypatch, capsys):
    (tmp_path / "in").mkdir()
    write_audio(tmp_path / "in" / "a.wav", 0.5, 8000, 1)
    monkeypatch.setenv("AUDIO_INFO_INPUT", str(tmp_path / "in"))
    monkeypatch.setenv("AUDIO_INFO_OUTPUT", str(tmp_path / "out"))
    pipeline.main(["--runs", str(tmp_path / "runs")])
    capsys.readouterr()
    pipeline.main(["--runs", str(tmp_path / "runs")])
    assert "skipped-output-exists" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("data", "reason"), [(b"", "empty file"), (b"RIFF\x00\x00", "not a readable audio file")]
)
def test_describe_audio_errors_name_the_file(data, reason):
    with pytest.raises(AudioInfoError, match=f"^x.wav: {reason}"):
        describe_audio("x.wav", data)
