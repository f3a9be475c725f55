"""Beam transforms over keyed audio: `(name, value)` elements in, `(name, result)` out.

`Decode` turns `(name, bytes or path)` into `(name, Audio)` and sends what does not
decode to its `"dead_letter"` output as `(name, reason)`. Each feature transform maps
one plain function of this package over `(name, Audio)` elements; its keyword
arguments are that function's, checked when the pipeline is built.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Any, ClassVar

import apache_beam as beam

from cadenza.audio import loudness, plot, rhythm, spectral
from cadenza.audio.decode import decode_audio
from cadenza.audio.errors import AudioDecodeError

DEAD_LETTER = "dead_letter"
"""The tag of `Decode`'s output of `(name, reason)` for inputs that do not decode."""

_POSITIVE_INTEGERS = frozenset(
    {"sample_rate", "n_fft", "hop_length", "frame_length", "n_mels", "n_mfcc"}
)
_POSITIVE_NUMBERS = frozenset({"top_db", "start_bpm"})


class Decode(beam.PTransform):
    """`(name, bytes or path)` -> `(name, Audio)`: mono float32 at `sample_rate`.

    Returns the outputs `audio` (the main one) and `dead_letter`: `(name, reason)` for
    every input that is empty, missing, not audio, corrupt or truncated. Paths may be
    local or on any Beam filesystem (`gs://...`). `sample_rate=None` keeps each
    source's rate.
    """

    def __init__(self, sample_rate: int | None = 22050):
        super().__init__()
        if sample_rate is not None:  # None keeps each source's rate
            _check_option(type(self).__name__, "sample_rate", sample_rate)
        self._sample_rate = sample_rate

    def expand(self, sources):
        return sources | "DecodeAudio" >> beam.ParDo(_DecodeFn(self._sample_rate)).with_outputs(
            DEAD_LETTER, main="audio"
        )


class _DecodeFn(beam.DoFn):
    def __init__(self, sample_rate: int | None):
        self._sample_rate = sample_rate

    def process(self, element):
        name, source = element
        try:
            yield name, decode_audio(source, self._sample_rate, name=name)
        except AudioDecodeError as error:
            yield beam.pvalue.TaggedOutput(DEAD_LETTER, (name, error.reason))


class _MapAudio(beam.PTransform):
    """`(name, Audio)` -> `(name, function(audio.samples, audio.sample_rate, **options))`."""

    function: ClassVar[Callable[..., Any]]  # each subclass names its plain function

    def __init__(self, **options):
        super().__init__()
        label, signature = type(self).__name__, inspect.signature(self.function)
        try:
            signature.bind(None, None, **options)
        except TypeError as error:
            raise TypeError(f"{label}: {error} (options of {_qualname(self.function)})") from None
        hints = typing.get_type_hints(self.function)
        for option, value in options.items():  # None only where the function takes None
            if value is not None or type(None) not in typing.get_args(hints.get(option)):
                _check_option(label, option, value)
        self._options = options

    def expand(self, keyed_audio):
        apply = functools.partial(self.function, **self._options)
        return keyed_audio | _qualname(self.function) >> beam.Map(_apply, apply)


def _apply(element, function):
    name, audio = element
    return name, function(audio.samples, audio.sample_rate)


class Spectrogram(_MapAudio):
    """`(name, Audio)` -> `(name, Frames)`: dB spectrogram (`spectral.spectrogram`)."""

    function = staticmethod(spectral.spectrogram)


class MelSpectrogram(_MapAudio):
    """`(name, Audio)` -> `(name, Frames)`: mel bands in dB (`spectral.mel_spectrogram`)."""

    function = staticmethod(spectral.mel_spectrogram)


class Mfcc(_MapAudio):
    """`(name, Audio)` -> `(name, Frames)`: MFCCs (`spectral.mfcc`)."""

    function = staticmethod(spectral.mfcc)


class Chroma(_MapAudio):
    """`(name, Audio)` -> `(name, Frames)`: 12 pitch classes (`spectral.chroma`)."""

    function = staticmethod(spectral.chroma)


class OnsetStrength(_MapAudio):
    """`(name, Audio)` -> `(name, Frames)`: onset envelope (`spectral.onset_strength`)."""

    function = staticmethod(spectral.onset_strength)


class Tempo(_MapAudio):
    """`(name, Audio)` -> `(name, TempoEstimate)`: bpm and beats (`rhythm.estimate_tempo`)."""

    function = staticmethod(rhythm.estimate_tempo)


class Loudness(_MapAudio):
    """`(name, Audio)` -> `(name, LoudnessMeasurement)` (`loudness.measure_loudness`).

    Measures the decoded mono mix as one channel: a stereo file with identical
    channels reads 3 LU below its two-channel BS.1770 loudness.
    """

    function = staticmethod(loudness.measure_loudness)


class SpectrogramPng(_MapAudio):
    """`(name, Audio)` -> `(name, PNG bytes)` (`plot.spectrogram_png`)."""

    function = staticmethod(plot.spectrogram_png)


def _check_option(label: str, option: str, value) -> None:
    if option in _POSITIVE_INTEGERS and not (
        isinstance(value, int) and not isinstance(value, bool) and value > 0
    ):
        raise ValueError(f"{label}({option}={value!r}): expected a positive integer")
    if option in _POSITIVE_NUMBERS and not (
        isinstance(value, int | float) and not isinstance(value, bool) and value > 0
    ):
        raise ValueError(f"{label}({option}={value!r}): expected a positive number")


def _qualname(function) -> str:
    return f"{function.__module__.rsplit('.', 1)[-1]}.{function.__name__}"
