"""The Beam transforms on real pipelines (FnApiRunner): good outputs and dead letters."""

import io
import struct

import apache_beam as beam
import numpy as np
import pytest
import soundfile
from apache_beam.testing import test_pipeline
from apache_beam.testing.util import assert_that, equal_to

from cadenza.audio import PITCH_CLASSES, measure_loudness
from cadenza.audio.transforms import (
    DEAD_LETTER,
    Chroma,
    Decode,
    Loudness,
    MelSpectrogram,
    Mfcc,
    OnsetStrength,
    Spectrogram,
    SpectrogramPng,
    Tempo,
)

RATE = 22050


def pipeline():
    return test_pipeline.TestPipeline(runner="FnApiRunner")


def wav(samples, rate=RATE) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, rate, format="WAV", subtype="FLOAT")
    return buffer.getvalue()


def tone(hz, seconds, dbfs_peak=-6.0, rate=RATE):
    t = np.arange(round(seconds * rate)) / rate
    return 10 ** (dbfs_peak / 20) * np.sin(2 * np.pi * hz * t)


def clicks(period_s, seconds, rate=RATE):
    x = np.zeros(round(seconds * rate))
    n = round(0.01 * rate)
    burst = np.sin(2 * np.pi * 1500 * np.arange(n) / rate) * np.exp(-np.arange(n) / (n / 5))
    for t in np.arange(0.1, seconds - 0.05, period_s):
        x[round(t * rate) : round(t * rate) + n] += burst
    return x


def length_bomb() -> bytes:
    """A 1 s FLAC whose header claims 2^35 more frames: 128 GiB if allocated at once."""
    buffer = io.BytesIO()
    soundfile.write(buffer, tone(440.0, 1.0, rate=8000), 8000, format="FLAC")
    data = bytearray(buffer.getvalue())
    data[8 + 13] = (data[8 + 13] & 0xF0) | 0x8  # STREAMINFO total samples, bits 32-35
    return bytes(data)


def test_decode_outputs_audio_and_dead_letters_every_failure(tmp_path):
    path = tmp_path / "a440.wav"
    path.write_bytes(wav(tone(440.0, 1.0, rate=44100), 44100))
    sources = [
        ("a440-bytes", wav(tone(440.0, 1.0, rate=44100), 44100)),
        ("a440-path", str(path)),
        ("broken", b"RIFF but not really a wave file"),
        ("missing", str(tmp_path / "missing.wav")),
        ("empty", b""),
        ("bomb", length_bomb()),
    ]

    def describe(name, audio):
        return name, audio.sample_rate, audio.source_sample_rate, len(audio.samples)

    def reasons_are(expected):
        def check(dead_letters):
            assert sorted(name for name, _ in dead_letters) == sorted(expected)
            for name, reason in dead_letters:
                assert expected[name] in reason, (name, reason)

        return check

    with pipeline() as p:
        audio, dead_letter = p | beam.Create(sources) | Decode(sample_rate=RATE)
        described = audio | beam.MapTuple(describe)
        assert_that(
            described, equal_to([(n, RATE, 44100, RATE) for n in ("a440-bytes", "a440-path")])
        )
        expected = {
            "broken": "Format not recognised",
            "missing": "no such file",
            "empty": "empty",
            "bomb": "header declares 34359746368 frames",
        }
        assert_that(dead_letter, reasons_are(expected), label="dead letters")


def test_decode_outputs_are_reachable_by_tag():
    with pipeline() as p:
        outputs = p | beam.Create([("bad", b"x")]) | Decode()
        assert_that(outputs.audio, equal_to([]), label="no audio")
        assert_that(outputs[DEAD_LETTER] | beam.Keys(), equal_to(["bad"]), label="dead")


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def test_feature_transforms_measure_what_is_in_the_audio():
    """One pipeline: a 440 Hz tone at -6 dBFS and a 120 BPM click track through every
    feature transform; each output is checked for the physics of its input."""
    sources = [("a440", wav(tone(440.0, 3.0))), ("clicks", wav(clicks(0.5, 10.0)))]

    def spectral_peak(name, frames):
        return name, frames.frequencies_hz[frames.values.mean(axis=1).argmax()]

    def check_peaks(expected_hz, tolerance_hz):
        def check(pairs):
            peaks = dict(pairs)
            assert peaks.keys() == {"a440", "clicks"}
            assert abs(peaks["a440"] - expected_hz) <= tolerance_hz, peaks

        return check

    def check_tempo(pairs):
        tempo = dict(pairs)
        assert tempo["clicks"].bpm == pytest.approx(120.0, abs=2.0)
        assert np.all(np.abs(np.diff(tempo["clicks"].beat_times_s) - 0.5) < 0.05)

    def check_loudness(pairs):
        measured = dict(pairs)["a440"]
        assert measured.peak_dbfs == pytest.approx(-6.0, abs=0.01)
        assert measured.rms_dbfs == pytest.approx(-9.01, abs=0.01)
        # The same as the plain function on the same samples (the maths is tested there).
        direct = measure_loudness(tone(440.0, 3.0), RATE)
        assert measured.integrated_lufs == pytest.approx(direct.integrated_lufs, abs=1e-6)

    def check_onsets(pairs):
        onsets = dict(pairs)["clicks"]
        click_times = 0.1 + 0.5 * np.arange(20)
        strongest = np.sort(onsets.times_s[np.argsort(onsets.values)[-len(click_times) :]])
        np.testing.assert_allclose(strongest, click_times, atol=0.05)

    with pipeline() as p:
        audio, _ = p | beam.Create(sources) | Decode(sample_rate=RATE)
        spec = audio | Spectrogram(n_fft=2048) | "SpecPeak" >> beam.MapTuple(spectral_peak)
        assert_that(spec, check_peaks(440.0, RATE / 2048), label="spectrogram peaks at 440 Hz")
        mel = audio | MelSpectrogram(n_mels=96) | "MelPeak" >> beam.MapTuple(spectral_peak)
        assert_that(mel, check_peaks(440.0, 30.0), label="mel peaks near 440 Hz")
        mfcc_shapes = audio | Mfcc(n_mfcc=13) | beam.MapTuple(lambda n, f: (n, f.values.shape[0]))
        assert_that(mfcc_shapes, equal_to([("a440", 13), ("clicks", 13)]), label="13 MFCCs")
        pitch = audio | Chroma() | beam.MapTuple(lambda n, f: (n, f.values.mean(axis=1).argmax()))
        a440_pitch = pitch | beam.Filter(lambda kv: kv[0] == "a440") | beam.Values()
        assert_that(a440_pitch, equal_to([PITCH_CLASSES.index("A")]), label="chroma is A")
        assert_that(audio | Tempo(), check_tempo, label="120 BPM")
        assert_that(audio | Loudness(), check_loudness, label="loudness")
        assert_that(audio | OnsetStrength(), check_onsets, label="onsets at the clicks")
        sizes = (
            audio
            | SpectrogramPng(n_fft=512, hop_length=512)
            | beam.MapTuple(lambda n, png: (n, png_size(png)))
        )
        expected_sizes = [
            ("a440", (1 + 3 * RATE // 512, 257)),
            ("clicks", (1 + 10 * RATE // 512, 257)),
        ]
        assert_that(sizes, equal_to(expected_sizes), label="png sizes")


def test_options_are_checked_when_the_pipeline_is_built():
    with pytest.raises(
        TypeError, match=r"Spectrogram: .*nfft.* \(options of spectral.spectrogram\)"
    ):
        Spectrogram(nfft=1024)
    with pytest.raises(ValueError, match=r"Mfcc\(n_mfcc=0\): expected a positive integer"):
        Mfcc(n_mfcc=0)
    with pytest.raises(ValueError, match=r"Spectrogram\(hop_length=2.5\): expected a positive"):
        Spectrogram(hop_length=2.5)
    with pytest.raises(ValueError, match=r"Tempo\(start_bpm='fast'\): expected a positive number"):
        Tempo(start_bpm="fast")
    with pytest.raises(ValueError, match=r"Decode\(sample_rate=-8000\): expected a positive"):
        Decode(sample_rate=-8000)
    with pytest.raises(ValueError, match=r"SpectrogramPng\(top_db=None\): expected a positive"):
        SpectrogramPng(top_db=None)  # a picture needs a dynamic range
    Decode(sample_rate=None)  # keeps each source's rate
    MelSpectrogram(top_db=None)  # no clipping
