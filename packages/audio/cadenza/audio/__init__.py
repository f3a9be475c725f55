"""Cadenza's audio helpers.

Decoding, spectral features and fingerprinting, as numpy functions and Beam transforms
(the transforms are in `cadenza.audio.transforms`).
"""

from cadenza.audio.decode import Audio, decode_audio
from cadenza.audio.errors import AudioDecodeError
from cadenza.audio.frames import Frames
from cadenza.audio.loudness import (
    LoudnessMeasurement,
    frame_rms_dbfs,
    integrated_loudness,
    k_weighting_sos,
    measure_loudness,
    rms_dbfs,
)
from cadenza.audio.plot import colormap, encode_png, spectrogram_png
from cadenza.audio.rhythm import TempoEstimate, estimate_tempo, warm_up_tempo
from cadenza.audio.spectral import (
    PITCH_CLASSES,
    chroma,
    mel_spectrogram,
    mfcc,
    onset_strength,
    spectrogram,
    stft,
)

__version__ = "0.1.0"

__all__ = [
    "PITCH_CLASSES",
    "Audio",
    "AudioDecodeError",
    "Frames",
    "LoudnessMeasurement",
    "TempoEstimate",
    "__version__",
    "chroma",
    "colormap",
    "decode_audio",
    "encode_png",
    "estimate_tempo",
    "frame_rms_dbfs",
    "integrated_loudness",
    "k_weighting_sos",
    "measure_loudness",
    "mel_spectrogram",
    "mfcc",
    "onset_strength",
    "rms_dbfs",
    "spectrogram",
    "spectrogram_png",
    "stft",
    "warm_up_tempo",
]
