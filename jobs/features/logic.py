"""The features job's logic: one canonical track in; its features (JSON) and spectrogram (PNG) out.

Tempo, chroma, key and the spectrogram are computed on the mono mix at
`params.sample_rate`; loudness on every channel at the file's own rate, as
ITU-R BS.1770-4 defines it (the channels' energies add up). A mono mix shorter than
1 s or quieter than -70 dBFS RMS (silence, dither, channels in antiphase that cancel)
has no key and no tempo: both are reported as none found (`has_content`).
"""

from __future__ import annotations

import io
import math

import attrs
import soundfile

from cadenza.audio import (
    PITCH_CLASSES,
    chroma,
    decode_audio,
    estimate_tempo,
    measure_loudness,
    spectrogram_png,
    warm_up_tempo,
)
from cadenza.runtime import JobLogic, Result
from jobs.features.transforms import estimate_key, has_content, spectrogram_hop

_positive = attrs.validators.gt(0)


@attrs.frozen(kw_only=True)
class Params:
    """job.yaml `params`."""

    #: the rate in Hz at which tempo, chroma and the spectrogram are computed
    sample_rate: int = attrs.field(default=22050, validator=_positive)
    #: the tempo the beat tracker favours when the rhythm is ambiguous
    start_bpm: float = attrs.field(default=120.0, validator=_positive)
    #: the spectrogram's FFT size: the PNG is `n_fft // 2 + 1` pixels high
    spectrogram_n_fft: int = attrs.field(default=1024, validator=attrs.validators.ge(16))
    #: samples between the PNG's columns, lengthened for long tracks to fit `max_width`
    spectrogram_hop_length: int = attrs.field(default=512, validator=_positive)
    #: the PNG's widest width in pixels
    spectrogram_max_width: int = attrs.field(default=4000, validator=attrs.validators.ge(2))
    #: the PNG's dynamic range: quieter than this below the loudest cell is dark blue
    spectrogram_top_db: float = attrs.field(default=80.0, validator=_positive)


class Features(JobLogic):
    """Computes a track's tempo, key, chroma and loudness, and draws its spectrogram."""

    params_class = Params

    def setup(self, config) -> None:
        # the beat tracker's numba code compiles on its first call (seconds): here, not
        # on the first track
        warm_up_tempo(getattr(config.params, "sample_rate", Params().sample_rate))

    def process(self, ctx) -> Result:
        params: Params = ctx.params
        data = ctx.inputs["audio"].read_bytes()
        audio = decode_audio(data, params.sample_rate, name=ctx.element)
        frames, rate = soundfile.read(io.BytesIO(data), dtype="float32", always_2d=True)
        loudness = measure_loudness(frames, rate)
        content = has_content(audio.samples, audio.sample_rate)
        tempo = (
            estimate_tempo(audio.samples, audio.sample_rate, start_bpm=params.start_bpm)
            if content
            else None
        )
        mean_chroma = chroma(audio.samples, audio.sample_rate).values.mean(axis=1)
        key = estimate_key(mean_chroma) if content else None
        hop = spectrogram_hop(
            len(audio.samples), params.spectrogram_hop_length, params.spectrogram_max_width
        )
        png = spectrogram_png(
            audio.samples,
            audio.sample_rate,
            n_fft=params.spectrogram_n_fft,
            hop_length=hop,
            top_db=params.spectrogram_top_db,
        )
        beats = len(tempo.beat_times_s) if tempo else 0
        ctx.metrics.counter("beats").inc(beats)
        features = {
            "file": ctx.element,
            "duration_s": round(len(frames) / rate, 3),
            "sample_rate": rate,
            "channels": frames.shape[1],
            "tempo": {"bpm": _number(tempo.bpm, 2) if beats else None, "beats": beats},
            "key": _key_json(key),
            "chroma_mean": {
                pitch: round(float(v), 4)
                for pitch, v in zip(PITCH_CLASSES, mean_chroma, strict=True)
            },
            "loudness": {
                "integrated_lufs": _number(loudness.integrated_lufs, 2),
                "rms_dbfs": _number(loudness.rms_dbfs, 2),
                "peak_dbfs": _number(loudness.peak_dbfs, 2),
            },
            "spectrogram": {
                "width": int.from_bytes(png[16:20], "big"),
                "height": int.from_bytes(png[20:24], "big"),
                "sample_rate": audio.sample_rate,
                "n_fft": params.spectrogram_n_fft,
                "hop_length": hop,
                "top_db": params.spectrogram_top_db,
            },
        }
        return Result(outputs={"features": features, "spectrogram": png})


def _number(value: float, digits: int) -> float | None:
    """A JSON number: None for the -inf of silence."""
    return round(float(value), digits) if math.isfinite(value) else None


def _key_json(key) -> dict | None:
    if key is None:
        return None
    return {
        "name": key.name,
        "tonic": key.tonic,
        "mode": key.mode,
        "correlation": round(key.correlation, 3),
        "confidence": round(key.confidence, 3),
        "candidates": [{"key": k, "correlation": round(r, 3)} for k, r in key.candidates],
    }
