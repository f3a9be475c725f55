"""The audio-info job end to end: real files, the runtime's lifecycle, the local runner."""

import io
import json

import numpy as np
import pytest
import soundfile as sf

from cadenza.audio import AudioDecodeError
from cadenza.runtime.storage import read_provenance
from jobs.audio_info import pipeline
from jobs.audio_info.transforms import describe_audio


def write_audio(path, seconds, rate, channels, **kwargs):
    t = np.arange(int(seconds * rate)) / rate
    sf.write(path, np.stack([0.3 * np.sin(2 * np.pi * 440 * t)] * channels, axis=1), rate, **kwargs)


def test_job_describes_files_and_dead_letters_the_rest(tmp_path, monkeypatch, capsys):
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    write_audio(inputs / "stereo.wav", 1.5, 16000, 2)
    write_audio(inputs / "mono [live].flac", 2.0, 44100, 1)  # not rich markup
    write_audio(inputs / "music.ogg", 3.0, 22050, 1, format="OGG", subtype="VORBIS")
    (inputs / "notes.wav").write_text("not audio")
    monkeypatch.setenv("AUDIO_INFO_INPUT", str(inputs))
    monkeypatch.setenv("AUDIO_INFO_OUTPUT", str(out))

    assert pipeline.main(["--runs", str(tmp_path / "runs")]) == 0

    rows = {
        p.name: json.loads(p.read_text()) for p in out.glob("*.json") if "provenance" not in p.name
    }
    assert set(rows) == {"stereo.wav.json", "mono [live].flac.json", "music.ogg.json"}
    stereo = rows["stereo.wav.json"]
    assert (stereo["sample_rate"], stereo["channels"], stereo["duration_s"]) == (16000, 2, 1.5)
    mono = rows["mono [live].flac.json"]
    assert (mono["format"], mono["duration_s"]) == ("FLAC", 2.0)
    assert abs(rows["music.ogg.json"]["duration_s"] - 3.0) < 0.01
    provenance = read_provenance(str(out / "stereo.wav.json"))
    assert provenance["job"] == "audio-info" and provenance["inputs"]["audio"].startswith("sha256:")
    (dead,) = [json.loads(p.read_text()) for p in (out / "dead_letter").iterdir()]
    assert dead["element"] == "notes.wav" and dead["stage"] == "logic"
    assert "AudioDecodeError: cannot decode audio from notes.wav: " in dead["reason"]
    assert "(9 bytes, starting b'not audi')" in dead["reason"]
    printed = capsys.readouterr().out
    assert "3 files described" in printed and "dead_letter:logic" in printed
    assert "mono [live].flac" in " ".join(printed.split())


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
    ("data", "reason"), [(b"", "it is empty"), (b"RIFF\x00\x00", "Format not recognised")]
)
def test_describe_audio_errors_name_the_file(data, reason):
    with pytest.raises(AudioDecodeError, match=f"^cannot decode audio from x.wav: {reason}"):
        describe_audio("x.wav", data)


def encoded(samples, rate, fmt, subtype=None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


def tone_bytes(fmt, subtype=None, seconds=2.0, rate=22050):
    t = np.arange(int(seconds * rate)) / rate
    return encoded(0.3 * np.sin(2 * np.pi * 440 * t), rate, fmt, subtype)


CUT_OR_CORRUPT = {  # what decode_audio refuses, and the reason it gives
    "half.wav": (lambda: tone_bytes("WAV")[: len(tone_bytes("WAV")) // 2], "truncated"),
    "half.flac": (lambda: tone_bytes("FLAC")[: len(tone_bytes("FLAC")) // 2], "lost sync"),
    "half.mp3": (lambda: tone_bytes("MP3")[: len(tone_bytes("MP3")) // 2], "truncated"),
    "nan.wav": (
        lambda: encoded(np.array([0.1, np.nan, 0.2] * 100, "float32"), 8000, "WAV", "FLOAT"),
        "NaN",
    ),
}


@pytest.mark.parametrize("name", sorted(CUT_OR_CORRUPT))
def test_what_decoding_refuses_is_refused_not_described_from_its_header(name):
    make, reason = CUT_OR_CORRUPT[name]
    data = make()
    sf.info(io.BytesIO(data))  # the header alone reads fine
    with pytest.raises(AudioDecodeError, match=f"^cannot decode audio from {name}: .*{reason}"):
        describe_audio(name, data)


def test_the_length_is_what_decodes():
    info = describe_audio("tone.mp3", tone_bytes("MP3", seconds=1.5))
    assert (info["format"], info["subtype"]) == ("MP3", "MPEG_LAYER_III")
    assert info["frames"] == 33075 and info["duration_s"] == 1.5
    info = describe_audio("tone.ogg", tone_bytes("OGG", "VORBIS"))
    assert (info["format"], info["subtype"], info["sample_rate"]) == ("OGG", "VORBIS", 22050)
