"""The features job end to end on canonical files (as normalize writes them): physics checks."""

import contextlib
import io
import json

import numpy as np
import pytest
import soundfile as sf
from PIL import Image

from cadenza.core import Dag, load_job_config
from cadenza.runtime.storage import read_provenance
from jobs.features import pipeline

RATE = 44100  # the normalizer's canonical files: FLAC, 16-bit, 44.1 kHz
C, D, E, F, G, A, B = 60, 62, 64, 65, 67, 69, 71  # MIDI notes from middle C


def tone(hz, seconds, amplitude=0.1):
    return amplitude * np.sin(2 * np.pi * hz * np.arange(int(seconds * RATE)) / RATE)


def note(midi, seconds):
    """A piano-ish note: four harmonics, a 10 ms attack and a 50 ms release."""
    t = np.arange(int(seconds * RATE)) / RATE
    hz = 440 * 2 ** ((midi - 69) / 12)
    wave = sum(0.5**k * np.sin(2 * np.pi * hz * (k + 1) * t) for k in range(4))
    return wave * np.minimum(1, np.minimum(t / 0.01, (seconds - t) / 0.05))


def music(chords, seconds=1.0):
    x = np.concatenate([sum(note(m, seconds) for m in chord) for chord in chords])
    return 0.3 * x / np.abs(x).max()


def canonical(folder, name, samples):
    sf.write(folder / f"{name}.flac", samples, RATE, subtype="PCM_16")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One run of the job over a folder of canonical tracks: (out, features by track, printed)."""
    tmp_path = tmp_path_factory.mktemp("features")
    normalized, out = tmp_path / "normalize", tmp_path / "features"
    normalized.mkdir()
    c_major = music([[C, E, G], [F, A, C + 12], [G, B, D + 12], [C, E, G], [A - 12, C, E],
                     [F, A, C + 12], [G, B, D + 12], [C, E, G, C + 12]])  # fmt: skip
    canonical(normalized, "c-major.wav", np.stack([c_major, 0.8 * c_major], axis=1))
    canonical(normalized, "c-scale.mp3", music([[m] for m in (C, D, E, F, G, A, B, C + 12)], 0.5))
    # Am Dm E Am Dm E Am: the dominant E major brings the harmonic minor's G#
    a_minor = music([[A - 12, C, E], [D, F, A], [E - 12, G + 1 - 12, B - 12], [A - 12, C, E],
                     [D, F, A], [E, G + 1, B], [A - 12, C, E, A]])  # fmt: skip
    canonical(normalized, "a-minor.m4a", a_minor)
    clicks = np.zeros(10 * RATE)  # a metronome click every 0.5 s: 120 BPM
    click = tone(1000, 0.05, 0.5) * np.exp(-np.arange(int(0.05 * RATE)) / (0.01 * RATE))
    for start in np.arange(0.1, 10, 0.5):
        clicks[int(start * RATE) : int(start * RATE) + len(click)] += click
    canonical(normalized, "clicks.wav", clicks)
    canonical(normalized, "tone.wav", tone(997, 5))  # -20 dBFS peak, -23.01 dBFS RMS
    canonical(normalized, "tone-stereo.wav", np.stack([tone(997, 5)] * 2, axis=1))
    canonical(normalized, "silence.wav", np.zeros(3 * RATE))
    # what has no key or tempo though it is not digital silence: see test_no_content_...
    lsb = np.random.default_rng(5).integers(-2, 3, (5 * RATE, 2)) / 32768  # about -95 dBFS
    canonical(normalized, "dither.wav", lsb)
    canonical(normalized, "one-sample.wav", np.array([0.5]))
    near_antiphase = -c_major + np.random.default_rng(6).integers(-2, 3, len(c_major)) / 32768
    canonical(normalized, "antiphase.wav", np.stack([c_major, near_antiphase], axis=1))
    canonical(normalized, "half-second.wav", c_major[: RATE // 2])
    canonical(normalized, "quiet-c-major.wav", c_major * 0.01)  # -50 dBFS peak: has a key
    (normalized / "broken.ogg.flac").write_bytes(b"fLaC" + bytes(60))
    (normalized / "c-major.wav.json").write_text("{}")  # the normalizer's report: not an input
    printed = io.StringIO()
    with pytest.MonkeyPatch.context() as env, contextlib.redirect_stdout(printed):
        env.setenv("NORMALIZE_OUTPUT", str(normalized))
        env.setenv("FEATURES_OUTPUT", str(out))
        assert pipeline.main(["--runs", str(tmp_path / "runs")]) == 0

    found = {
        p.name.removesuffix(".json"): json.loads(p.read_text())
        for p in out.glob("*.json")
        if not p.name.endswith(".provenance.json")
    }
    return out, found, printed.getvalue()


def test_each_canonical_track_gets_features_and_a_spectrogram(run):
    out, found, printed = run
    names = {"c-major.wav", "c-scale.mp3", "a-minor.m4a", "clicks.wav", "tone.wav"}
    names |= {"tone-stereo.wav", "silence.wav", "dither.wav", "one-sample.wav", "antiphase.wav"}
    names |= {"half-second.wav", "quiet-c-major.wav"}
    assert set(found) == names
    assert {p.name.removesuffix(".png") for p in out.glob("*.png")} == names
    provenance = read_provenance(str(out / "tone.wav.json"))
    assert provenance["job"] == "features" and provenance["inputs"]["audio"].startswith("sha256:")
    (dead,) = [json.loads(p.read_text()) for p in (out / "dead_letter").iterdir()]
    assert dead["element"] == "broken.ogg" and dead["stage"] == "logic"
    assert "AudioDecodeError: cannot decode audio from broken.ogg" in dead["reason"]
    assert "features: 12 track(s)" in printed and "C major" in printed
    assert "dead_letter:logic" in printed


@pytest.mark.parametrize(
    ("track", "key"),
    [("c-major.wav", "C major"), ("c-scale.mp3", "C major"), ("a-minor.m4a", "A minor")],
)
def test_the_key_comes_from_the_chroma(run, track, key):
    _, found, _ = run
    estimate = found[track]["key"]
    assert estimate["name"] == key and (estimate["tonic"], estimate["mode"]) == tuple(key.split())
    assert estimate["correlation"] > 0.8 and estimate["confidence"] > 0.1
    assert estimate["candidates"][0] == {"key": key, "correlation": estimate["correlation"]}
    chroma = found[track]["chroma_mean"]
    assert list(chroma) == ["A", "A#", "B", "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#"]
    tonic = estimate["tonic"]
    assert chroma[tonic] > chroma["C#"] and chroma[tonic] > chroma["F#"]  # out of both keys


def test_clicks_every_half_second_are_120_bpm(run):
    _, found, _ = run
    tempo = found["clicks.wav"]["tempo"]
    assert tempo["bpm"] == pytest.approx(120, abs=2)
    assert 17 <= tempo["beats"] <= 20  # 20 clicks; the tracker may drop one at either end


def test_loudness_of_a_tone_of_known_level(run):
    _, found, _ = run
    mono, stereo = found["tone.wav"], found["tone-stereo.wav"]
    # 997 Hz at -20 dBFS peak: BS.1770 reads its RMS level, -23.01 LUFS, in one channel...
    assert mono["loudness"]["integrated_lufs"] == pytest.approx(-23.01, abs=0.05)
    assert mono["loudness"]["rms_dbfs"] == pytest.approx(-23.01, abs=0.02)
    assert mono["loudness"]["peak_dbfs"] == pytest.approx(-20.0, abs=0.02)
    # ...and the two channels' energies add up: 3.01 dB louder in stereo, same levels
    assert stereo["loudness"]["integrated_lufs"] == pytest.approx(-20.0, abs=0.05)
    assert stereo["loudness"]["rms_dbfs"] == pytest.approx(-23.01, abs=0.02)
    assert (mono["channels"], stereo["channels"], mono["sample_rate"]) == (1, 2, RATE)
    assert mono["duration_s"] == 5.0


def test_silence_has_no_key_tempo_or_loudness(run):
    _, found, _ = run
    silence = found["silence.wav"]
    assert silence["key"] is None and silence["tempo"] == {"bpm": None, "beats": 0}
    assert set(silence["loudness"].values()) == {None}
    assert silence["duration_s"] == 3.0


@pytest.mark.parametrize(
    "track", ["dither.wav", "one-sample.wav", "antiphase.wav", "half-second.wav"]
)
def test_no_content_in_the_mono_mix_means_no_key_and_no_tempo(run, track):
    # below -70 dBFS RMS, or shorter than 1 s; the antiphase channels cancel in the mix
    _, found, _ = run
    features = found[track]
    assert features["key"] is None and features["tempo"] == {"bpm": None, "beats": 0}
    if track == "antiphase.wav":  # loudness is per channel: it does not cancel
        assert features["loudness"]["integrated_lufs"] > -20


def test_quiet_music_keeps_its_key(run):
    _, found, _ = run
    assert found["quiet-c-major.wav"]["loudness"]["rms_dbfs"] < -55
    assert found["quiet-c-major.wav"]["key"]["name"] == "C major"


def test_the_spectrogram_is_a_png_with_a_row_per_frequency_bin(run):
    out, found, _ = run
    for name, features in found.items():
        with Image.open(out / f"{name}.png") as image:
            assert image.format == "PNG" and image.mode == "RGB"
            image.load()  # decodes every pixel: a truncated or corrupt PNG raises
            width, height = image.size
        assert height == 1024 // 2 + 1 == features["spectrogram"]["height"]
        samples = round(features["duration_s"] * 22050)
        assert width == 1 + samples // 512 == features["spectrogram"]["width"], name
    with Image.open(out / "tone.wav.png") as image:
        pixels = np.asarray(image.convert("L"), dtype=np.float64)
    brightest_row = pixels.mean(axis=1).argmax()  # row 0 is the top: 11025 Hz
    assert abs((512 - brightest_row) * 22050 / 1024 - 997) < 22050 / 1024


def test_features_read_exactly_what_normalize_writes(repo_root):
    normalize = load_job_config(repo_root / "jobs/normalize/job.yaml")
    features = load_job_config(repo_root / "jobs/features/job.yaml")
    dag = Dag.build([features, normalize])  # raises unless an input matches a parent's output
    assert dag.children("normalize") == ("features",) and features.upstream == ("normalize",)
    (audio,) = [d for d in normalize.data.outputs if d.name == "audio"]
    (listing,) = features.events.inputs
    assert (listing.location, listing.suffix) == (audio.location, audio.suffix) == (
        "${NORMALIZE_OUTPUT:-.cadenza/out/normalize}", ".flac"
    )  # fmt: skip
    env = {"NORMALIZE_OUTPUT": "gs://tracks/normalized"}
    resolved = load_job_config(repo_root / "jobs/features/job.yaml", env=env)
    assert resolved.data.inputs[0].path_for("song.m4a") == "gs://tracks/normalized/song.m4a.flac"
