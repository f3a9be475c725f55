"""The normalize job end to end: real uploads (M4A made by ffmpeg), the runtime, local runner."""

import json
import subprocess

import numpy as np
import pytest
import soundfile as sf

from cadenza.runtime.storage import read_provenance
from jobs.normalize import pipeline

FFMPEG = "/usr/bin/ffmpeg"


def ffmpeg(*args):
    subprocess.run([FFMPEG, "-nostdin", "-hide_banner", "-loglevel", "error", *args], check=True)


def sine(freq, seconds, rate, amplitude=0.5):
    return amplitude * np.sin(2 * np.pi * freq * np.arange(int(seconds * rate)) / rate)


def pitch_hz(samples, rate):
    """The strongest frequency, to a fraction of a hertz (a long FFT, zero-padded)."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples)), n=8 * len(samples)))
    return np.fft.rfftfreq(8 * len(samples), 1 / rate)[spectrum.argmax()]


def outputs(out):
    reports = {
        p.name.removesuffix(".json"): json.loads(p.read_text())
        for p in out.glob("*.json")
        if not p.name.endswith(".provenance.json")
    }
    return reports, {p.name.removesuffix(".flac") for p in out.glob("*.flac")}


@pytest.fixture
def folders(tmp_path, monkeypatch):
    uploads, out = tmp_path / "uploads", tmp_path / "out"
    uploads.mkdir()
    monkeypatch.setenv("NORMALIZE_INPUT", str(uploads))
    monkeypatch.setenv("NORMALIZE_OUTPUT", str(out))
    monkeypatch.delenv("NORMALIZE_FFMPEG", raising=False)
    return uploads, out, ["--runs", str(tmp_path / "runs")]


def test_uploads_of_every_format_become_canonical_flac(folders, capsys):
    uploads, out, args = folders
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=3", "-c:a", "aac", uploads / "a.m4a")
    ffmpeg(
        "-f", "lavfi", "-i", "aevalsrc=0.5*sin(2*PI*440*t)|0.5*sin(2*PI*660*t):s=48000:d=2",
        "-c:a", "aac", uploads / "stereo-48k.m4a",
    )  # fmt: skip
    sf.write(uploads / "hot.wav", np.stack([sine(1000, 2, 22050, 1.5)] * 2, axis=1), 22050, "FLOAT")
    sf.write(uploads / "song.mp3", sine(523.25, 3, 44100), 44100)
    sf.write(uploads / "vorbis.ogg", sine(330, 2, 32000), 32000, format="OGG", subtype="VORBIS")
    sf.write(uploads / "opus.ogg", sine(880, 2, 48000), 48000, format="OGG", subtype="OPUS")
    sf.write(uploads / "silence.flac", np.zeros(22050), 22050)
    # other containers ffmpeg reads: AVI, MPEG program stream
    ffmpeg(
        "-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "pcm_s16le", uploads / "a.avi"
    )
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=2", "-c:a", "mp2", uploads / "a.mpg")
    good = {
        "a.m4a", "stereo-48k.m4a", "hot.wav", "song.mp3", "vorbis.ogg", "opus.ogg", "silence.flac",
        "a.avi", "a.mpg",
    }  # fmt: skip
    sf.write(uploads / "truncated.wav", sine(440, 1, 44100), 44100)
    whole = (uploads / "truncated.wav").read_bytes()
    (uploads / "truncated.wav").write_bytes(whole[: len(whole) // 2])
    (uploads / "broken.m4a").write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(200))
    (uploads / "notes.txt").write_text("not audio at all")
    # a playlist naming a file on the worker: ffmpeg must not read it into the output
    secret = uploads.parent / "secret.aac"
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:duration=2", "-c:a", "aac", secret)
    (uploads / "playlist.m4a").write_text(
        f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:2.0,\n{secret}\n#EXT-X-ENDLIST\n"
    )

    assert pipeline.main(args) == 0

    reports, flacs = outputs(out)
    assert set(reports) == flacs == good
    for name in good:  # every output: FLAC, 16-bit, 44.1 kHz, the source's channels
        info = sf.info(out / f"{name}.flac")
        canonical = reports[name]["canonical"]
        assert (info.format, info.subtype, info.samplerate) == ("FLAC", "PCM_16", 44100)
        assert info.channels == canonical["channels"] == reports[name]["source"]["channels"]
        assert info.frames == canonical["frames"] and canonical["bytes"] > 0

    a, rate = sf.read(out / "a.m4a.flac")
    assert rate == 44100 and a.ndim == 1
    assert abs(pitch_hz(a, rate) - 440) < 1 and abs(len(a) / rate - 3) < 0.05
    source = reports["a.m4a"]["source"]
    assert (source["decoder"], source["codec"], source["sample_rate"]) == ("ffmpeg", "aac", 44100)
    assert "m4a" in source["format"] and source["bytes"] == (uploads / "a.m4a").stat().st_size

    stereo, rate = sf.read(out / "stereo-48k.m4a.flac")
    assert stereo.shape[1] == 2 and abs(len(stereo) / rate - 2) < 0.05  # resampled from 48 kHz
    left, right = stereo.T
    assert abs(pitch_hz(left, rate) - 440) < 1 and abs(pitch_hz(right, rate) - 660) < 1
    assert reports["stereo-48k.m4a"]["source"]["sample_rate"] == 48000

    hot, _ = sf.read(out / "hot.wav.flac")  # a float WAV peaking at +3.5 dBFS: scaled, not clipped
    hot_report = reports["hot.wav"]
    assert hot_report["source"]["peak_dbfs"] == pytest.approx(3.52, abs=0.01)
    assert hot_report["canonical"]["peak_dbfs"] == pytest.approx(-1.0, abs=0.01)
    # -4.52 dB, and a little more for the resampler's ringing at the tone's abrupt ends
    assert hot_report["canonical"]["gain_db"] == pytest.approx(-4.52, abs=0.05)
    assert np.abs(hot).max() <= 10 ** (-1 / 20) + 1 / 32768
    crest = np.abs(hot).max() / np.sqrt(np.mean(hot**2))
    assert crest == pytest.approx(np.sqrt(2), abs=0.01)  # still a sine: a clipped one is flatter
    assert abs(pitch_hz(hot[:, 0], 44100) - 1000) < 1

    read_by_soundfile = [("song.mp3", 523.25, 3), ("vorbis.ogg", 330, 2), ("opus.ogg", 880, 2)]
    for name, freq, seconds in read_by_soundfile:
        samples, rate = sf.read(out / f"{name}.flac")
        assert abs(pitch_hz(samples, rate) - freq) < 1, name
        assert abs(len(samples) / rate - seconds) < 0.06, name
        assert reports[name]["source"]["decoder"] == "soundfile"
        assert reports[name]["canonical"]["gain_db"] == 0.0  # quiet enough: left as it was
    assert reports["song.mp3"]["source"]["format"] == "MP3"
    assert reports["opus.ogg"]["source"]["codec"] == "OPUS"
    assert reports["silence.flac"]["canonical"]["peak_dbfs"] is None

    provenance = read_provenance(str(out / "a.m4a.flac"))
    assert provenance["job"] == "normalize" and provenance["inputs"]["audio"].startswith("sha256:")
    dead = {
        record["element"]: record
        for record in (json.loads(p.read_text()) for p in (out / "dead_letter").iterdir())
    }
    assert set(dead) == {"truncated.wav", "broken.m4a", "notes.txt", "playlist.m4a"}
    assert dead["playlist.m4a"]["reason"].endswith(
        "ffmpeg reads it as hls, which normalize does not accept (it names other files, "
        "devices or network sources, never opened)"
    )
    assert {record["stage"] for record in dead.values()} == {"logic"}
    # soundfile knows the format, so the damage is reported, not papered over by ffmpeg
    assert dead["truncated.wav"]["reason"].startswith(
        "AudioDecodeError: cannot decode audio from truncated.wav: truncated"
    )
    broken = dead["broken.m4a"]["reason"]
    assert broken.startswith("NormalizeError: cannot normalize broken.m4a: soundfile does not")
    assert "ffmpeg failed (exit 1)" in broken and "moov atom not found" in broken
    assert "broken.m4a: Invalid data found when processing input" in broken
    assert str(uploads) not in broken  # the element's name, not a local path
    assert "notes.txt: Invalid data found" in dead["notes.txt"]["reason"]

    printed = capsys.readouterr().out
    assert "9 canonical file(s)" in printed and "aac (ffmpeg)" in printed
    assert "dead_letter:logic" in printed


def test_without_ffmpeg_what_soundfile_reads_still_normalises(folders, tmp_path, capsys):
    uploads, out, args = folders
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=440:duration=1", "-c:a", "aac", uploads / "x.m4a")
    sf.write(uploads / "y.wav", sine(440, 1, 16000), 16000)
    missing = tmp_path / "no" / "ffmpeg"

    assert pipeline.main([*args, "--set", f"params.ffmpeg={missing}"]) == 0

    reports, flacs = outputs(out)
    assert set(reports) == flacs == {"y.wav"}
    (dead,) = [json.loads(p.read_text()) for p in (out / "dead_letter").iterdir()]
    assert dead["element"] == "x.m4a"
    assert dead["reason"].startswith("NormalizeError: cannot normalize x.m4a: soundfile does not")
    assert f"ffmpeg is not installed at {missing} (Debian package `ffmpeg`)" in dead["reason"]
    capsys.readouterr()
