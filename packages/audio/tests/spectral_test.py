"""Spectral features on tones, sweeps and clicks the tests make: the physics, not just shapes."""

import numpy as np
import pytest

from cadenza.audio.spectral import (
    FLOOR_DB,
    PITCH_CLASSES,
    chroma,
    mel_spectrogram,
    mfcc,
    onset_strength,
    spectrogram,
    stft,
)

RATE = 22050


def tone(hz, seconds=1.0, amplitude=0.5, rate=RATE):
    t = np.arange(round(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def clicks(times_s, seconds, rate=RATE):
    """Short decaying 2 kHz bursts starting at `times_s`."""
    x = np.zeros(round(seconds * rate), np.float32)
    burst = tone(2000, 0.01, 1.0, rate) * np.exp(-np.arange(round(0.01 * rate)) / 40)
    for t in times_s:
        start = round(t * rate)
        x[start : start + len(burst)] += burst
    return x


def test_stft_of_a_440hz_tone_peaks_within_a_bin_of_440hz():
    spectrum = stft(tone(440), RATE, n_fft=2048, hop_length=512)
    assert np.iscomplexobj(spectrum.values)
    bin_hz = RATE / 2048
    np.testing.assert_allclose(np.diff(spectrum.frequencies_hz), bin_hz)
    assert spectrum.frequencies_hz[-1] == RATE / 2
    peak = spectrum.frequencies_hz[np.abs(spectrum.values).argmax(axis=0)]
    assert np.all(np.abs(peak - 440) <= bin_hz)


def test_spectrogram_reads_a_sines_amplitude_in_db_at_its_frequency():
    """Calibrated: a sine centred on bin 41 (441.43 Hz) of amplitude 0.5 reads
    20·log10(0.5) = -6.02 dB there; far from it, the Hann window's leakage is > 60 dB down."""
    hz = 41 * RATE / 2048
    spec = spectrogram(tone(hz, amplitude=0.5), RATE, n_fft=2048, hop_length=512, top_db=None)
    middle = spec.values[:, 5:-5]  # frames that see only the tone, no edge
    assert middle[41] == pytest.approx(np.full(middle.shape[1], -6.02), abs=0.01)
    assert middle[[0, 20, 60, 500]].max() < -6.02 - 60


def test_spectrogram_floors_silence_and_clips_to_top_db():
    assert np.all(spectrogram(np.zeros(RATE, np.float32), RATE).values == FLOOR_DB)
    spec = spectrogram(tone(1000), RATE, top_db=40.0)
    assert spec.values.max() - spec.values.min() == pytest.approx(40.0)


def test_a_rising_sweeps_peak_frequency_rises_over_time():
    """A linear sweep from 200 Hz to 4 kHz over 2 s: each frame's peak is the sweep's
    instantaneous frequency f(t) = 200 + 1900 t, within a few bins."""
    t = np.arange(2 * RATE) / RATE
    sweep = np.sin(2 * np.pi * (200 * t + 1900 / 2 * t**2)).astype(np.float32)
    spec = spectrogram(sweep, RATE, n_fft=2048, hop_length=512)
    inside = (spec.times_s > 0.1) & (spec.times_s < 1.9)
    peak_hz = spec.frequencies_hz[spec.values[:, inside].argmax(axis=0)]
    assert np.all(np.diff(peak_hz) >= 0) and peak_hz[-1] - peak_hz[0] > 3000
    expected = 200 + 1900 * spec.times_s[inside]
    assert np.abs(peak_hz - expected).max() < 3 * RATE / 2048


def test_mel_spectrogram_puts_a_tone_in_the_band_around_it():
    mel = mel_spectrogram(tone(1000), RATE, n_mels=64, hop_length=256)
    assert mel.values.shape == (64, len(mel.times_s))
    assert len(mel.times_s) == 1 + RATE // 256
    assert mel.values.max() == 0.0  # dB relative to the loudest cell
    centres = mel.frequencies_hz
    assert np.all(np.diff(centres) > 0) and 0 < centres[0] < centres[-1] < RATE / 2
    loudest = centres[mel.values.mean(axis=1).argmax()]
    spacing = np.diff(centres)[np.searchsorted(centres, 1000)]
    assert abs(loudest - 1000) <= spacing
    # Mel bands widen with frequency: roughly linear below 1 kHz, logarithmic above.
    assert np.diff(centres)[-1] > 5 * np.diff(centres)[0]


def test_mel_bands_respect_fmin_and_fmax():
    mel = mel_spectrogram(tone(300) + tone(3000), RATE, n_mels=40, fmin=1000.0, fmax=8000.0)
    assert mel.frequencies_hz[0] > 1000 and mel.frequencies_hz[-1] < 8000
    loudest = mel.frequencies_hz[mel.values.mean(axis=1).argmax()]
    assert abs(loudest - 3000) < 300  # the 300 Hz tone is below every band


def test_mfcc_ignores_level_beyond_c0_and_tells_timbres_apart():
    """MFCCs are the DCT of log mel energies: scaling the signal adds a constant to every
    log band, which moves only c0. A 220 Hz square wave (rich in odd harmonics) has the
    pure 220 Hz tone's pitch but another spectral shape, so c1.. differ."""
    pure = tone(220)
    square = np.sign(pure).astype(np.float32) * 0.5
    pure_mfcc = mfcc(pure, RATE, n_mfcc=13, hop_length=512)
    assert pure_mfcc.values.shape == (13, 1 + RATE // 512)
    assert pure_mfcc.frequencies_hz is None
    pure_mean = pure_mfcc.values.mean(axis=1)
    quieter = mfcc(pure * 0.25, RATE, n_mfcc=13).values.mean(axis=1)
    square_mean = mfcc(square, RATE, n_mfcc=13).values.mean(axis=1)
    assert quieter[0] < pure_mean[0] - 10  # c0 follows the level (-12 dB)...
    np.testing.assert_allclose(quieter[1:], pure_mean[1:], atol=0.01)  # ...the shape does not
    assert np.linalg.norm(square_mean[1:] - pure_mean[1:]) > 20


@pytest.mark.parametrize(("hz", "pitch_class"), [(440.0, "A"), (261.63, "C"), (392.0, "G")])
def test_chroma_of_a_tone_peaks_at_its_pitch_class(hz, pitch_class):
    frames = chroma(tone(hz), RATE)
    assert frames.values.shape[0] == 12
    profile = frames.values.mean(axis=1)
    assert PITCH_CLASSES[profile.argmax()] == pitch_class
    others = np.delete(profile, profile.argmax())
    assert others.max() < 0.5 * profile.max()


def test_onset_strength_peaks_at_the_clicks():
    times = [0.25, 0.75, 1.25, 1.75]
    onsets = onset_strength(clicks(times, 2.0), RATE, hop_length=256)
    assert onsets.values.ndim == 1 and onsets.values.shape == onsets.times_s.shape
    frame_s = 256 / RATE
    top4 = np.sort(onsets.times_s[np.argsort(onsets.values)[-4:]])
    np.testing.assert_allclose(top4, times, atol=2 * frame_s)
    quiet = np.ones_like(onsets.values, bool)
    for t in times:
        quiet &= np.abs(onsets.times_s - t) > 0.05
    assert onsets.values[quiet].max() < 0.2 * onsets.values.max()


def test_multichannel_input_is_refused_with_its_shape():
    with pytest.raises(
        ValueError, match=r"expected mono samples of shape \(n,\), got shape \(100, 2\)"
    ):
        spectrogram(np.zeros((100, 2)), RATE)
