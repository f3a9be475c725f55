"""Spectral features: thin, well-defaulted wrappers over librosa returning `Frames`.

Every function takes mono float samples and their rate; frames are centred
(`times_s[t] = t * hop_length / sample_rate`) with a Hann window.

>>> import numpy as np
>>> t = np.arange(22050) / 22050
>>> spec = spectrogram(np.sin(2 * np.pi * 440 * t), 22050)
>>> spec.values.shape == (len(spec.frequencies_hz), len(spec.times_s))
True
>>> peak_hz = spec.frequencies_hz[spec.values.mean(axis=1).argmax()]
>>> bool(abs(peak_hz - 440) < 22050 / 2048)
True
"""

from __future__ import annotations

import attrs
import librosa
import numpy as np

from cadenza.audio.frames import Frames, frame_times

PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
"""The rows of `chroma`, in order."""

FLOOR_DB = -100.0
"""The floor of `spectrogram` values (digital silence reads this)."""

_AMIN = 10.0 ** (FLOOR_DB / 20.0)


def stft(
    samples: np.ndarray, sample_rate: int, *, n_fft: int = 2048, hop_length: int = 512
) -> Frames:
    """Complex short-time Fourier transform: `n_fft // 2 + 1` bins from 0 Hz to Nyquist."""
    values = librosa.stft(_mono(samples), n_fft=n_fft, hop_length=hop_length, window="hann")
    return _frames(
        values, sample_rate, hop_length, librosa.fft_frequencies(sr=sample_rate, n_fft=n_fft)
    )


def spectrogram(
    samples: np.ndarray,
    sample_rate: int,
    *,
    n_fft: int = 2048,
    hop_length: int = 512,
    top_db: float | None = 80.0,
) -> Frames:
    """Magnitude spectrogram in dB, calibrated so that a full-scale sine reads 0 dB.

    A sine of peak amplitude A centred on a bin reads 20·log10(A) dB there (between
    bins, up to 1.4 dB less: the Hann window's scalloping). Values are floored at
    -100 dB and, unless `top_db` is None, at `top_db` below the maximum.
    """
    spectrum = stft(samples, sample_rate, n_fft=n_fft, hop_length=hop_length)
    # A sine of amplitude A gives |X| = A * sum(window) / 2 at its frequency.
    scale = 2.0 / librosa.filters.get_window("hann", n_fft, fftbins=True).sum()
    values = librosa.amplitude_to_db(
        np.abs(spectrum.values) * scale, ref=1.0, amin=_AMIN, top_db=top_db
    )
    return attrs.evolve(spectrum, values=values)


def mel_spectrogram(
    samples: np.ndarray,
    sample_rate: int,
    *,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mels: int = 128,
    fmin: float = 0.0,
    fmax: float | None = None,
    top_db: float | None = 80.0,
) -> Frames:
    """Mel-band power in dB relative to the loudest band and frame (0 dB).

    `frequencies_hz` are the centres of the `n_mels` triangular bands spanning
    `fmin` to `fmax` (default: Nyquist).
    """
    power = librosa.feature.melspectrogram(
        y=_mono(samples),
        sr=sample_rate,
        n_fft=n_fft,
        hop_length=hop_length,
        n_mels=n_mels,
        fmin=fmin,
        fmax=fmax,
    )
    values = librosa.power_to_db(power, ref=np.max, amin=_AMIN**2, top_db=top_db)
    centres = librosa.mel_frequencies(n_mels=n_mels + 2, fmin=fmin, fmax=fmax or sample_rate / 2)
    return _frames(values, sample_rate, hop_length, centres[1:-1])


def mfcc(
    samples: np.ndarray,
    sample_rate: int,
    *,
    n_mfcc: int = 20,
    n_fft: int = 2048,
    hop_length: int = 512,
    n_mels: int = 128,
) -> Frames:
    """Mel-frequency cepstral coefficients, `n_mfcc` rows (DCT-II of the log mel bands)."""
    values = librosa.feature.mfcc(
        y=_mono(samples),
        sr=sample_rate,
        n_mfcc=n_mfcc,
        n_fft=n_fft,
        hop_length=hop_length,
        n_mels=n_mels,
    )
    return _frames(values, sample_rate, hop_length)


def chroma(
    samples: np.ndarray,
    sample_rate: int,
    *,
    n_fft: int = 4096,
    hop_length: int = 512,
    tuning: float | None = 0.0,
) -> Frames:
    """Energy per pitch class: 12 rows in `PITCH_CLASSES` order, each frame's maximum 1.

    `tuning` is the deviation from A440 in fractions of a semitone (0.0: concert
    pitch; None estimates it from the signal). The default `n_fft` resolves
    semitones down to about 100 Hz at 22.05 kHz.
    """
    values = librosa.feature.chroma_stft(
        y=_mono(samples), sr=sample_rate, n_fft=n_fft, hop_length=hop_length, tuning=tuning
    )
    return _frames(values, sample_rate, hop_length)


def onset_strength(samples: np.ndarray, sample_rate: int, *, hop_length: int = 512) -> Frames:
    """Spectral flux onset envelope: how much new energy each frame brings (one row)."""
    values = librosa.onset.onset_strength(y=_mono(samples), sr=sample_rate, hop_length=hop_length)
    return _frames(values, sample_rate, hop_length)


def _mono(samples: np.ndarray) -> np.ndarray:
    x = np.asarray(samples, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"samples: expected mono samples of shape (n,), got shape {x.shape}")
    return x


def _frames(values, sample_rate, hop_length, frequencies_hz=None) -> Frames:
    return Frames(
        values=values,
        times_s=frame_times(values.shape[-1], sample_rate, hop_length),
        frequencies_hz=frequencies_hz,
    )
