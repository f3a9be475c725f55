"""The normaliser's logic: one upload in; its canonical FLAC and a JSON report out.

Every upload is decoded (soundfile, or ffmpeg for what soundfile does not read) and
written as FLAC, 16-bit, at `params.sample_rate` (44.1 kHz), with the source's
channels, scaled down if its peak would pass `params.max_peak_dbfs`. What cannot be
decoded raises, and the runtime dead-letters it with the reason.
"""

from __future__ import annotations

import attrs

from cadenza.runtime import JobLogic, Result
from jobs.normalize.transforms import canonical_flac, decode_upload, peak_dbfs


@attrs.frozen(kw_only=True)
class Params:
    """job.yaml `params`."""

    #: the canonical file's rate in Hz
    sample_rate: int = attrs.field(default=44100, validator=attrs.validators.gt(0))
    #: the canonical file's highest sample peak; louder sources are scaled down to it
    max_peak_dbfs: float = attrs.field(default=-1.0, validator=attrs.validators.le(0.0))
    #: the ffmpeg binary for what soundfile does not read (M4A/AAC, ...)
    ffmpeg: str = "/usr/bin/ffmpeg"
    #: how long ffmpeg may take to decode one file
    ffmpeg_timeout_s: float = attrs.field(default=600.0, validator=attrs.validators.gt(0.0))


class Normalize(JobLogic):
    """Decodes an upload and writes it as the canonical FLAC, with a report."""

    params_class = Params

    def process(self, ctx) -> Result:
        params: Params = ctx.params
        with ctx.inputs["audio"].local_path() as path:
            size = path.stat().st_size
            decoded = decode_upload(
                path, ctx.element, ffmpeg=params.ffmpeg, timeout_s=params.ffmpeg_timeout_s
            )
        flac, canonical = canonical_flac(
            decoded, sample_rate=params.sample_rate, max_peak_dbfs=params.max_peak_dbfs
        )
        ctx.metrics.counter(f"decoded_by_{decoded.decoder}").inc()
        if canonical["gain_db"] < 0:
            ctx.metrics.counter("scaled_down").inc()
        report = {
            "file": ctx.element,
            "source": {
                "format": decoded.format,
                "codec": decoded.codec,
                "decoder": decoded.decoder,
                "sample_rate": decoded.sample_rate,
                "channels": decoded.channels,
                "duration_s": round(decoded.duration_s, 3),
                "peak_dbfs": peak_dbfs(decoded.frames),
                "bytes": size,
            },
            "canonical": canonical,
        }
        return Result(outputs={"audio": flac, "report": report})
