"""The fingerprint job's logic: one track in; its report and its landmarks out.

For each track the job decodes the audio, finds the catalog tracks it overlaps (before
adding it, so a track never matches itself), adds it to the catalog index durably, and
returns a JSON report and the landmark artifact (an .npz of hashes and frames).
"""

from __future__ import annotations

import io
import threading

import attrs
import numpy as np

from cadenza.audio.decode import decode_audio
from cadenza.audio.fingerprint import FINGERPRINT_SAMPLE_RATE, FingerprintIndex, find_overlaps
from cadenza.audio.fingerprint.landmarks import FRAME_S, REFERENCE, landmarks
from cadenza.audio.fingerprint.overlaps import check_window_s
from cadenza.runtime import JobLogic, Result


def _local_folder(instance, attribute, value) -> None:
    if "://" in value:
        raise ValueError(
            f"{attribute.name!r} must be a local folder for the catalog index, "
            f"not {value!r} (remote paths are not supported)"
        )


def _window_length(instance, attribute, value) -> None:
    check_window_s(value)  # a finite number of seconds the matching can use


@attrs.frozen
class Params:
    """job.yaml `params`: the catalog index's local folder, and the matching window."""

    index: str = attrs.field(validator=[attrs.validators.instance_of(str), _local_folder])
    #: seconds per matching window: 2 to 600
    window_s: float = attrs.field(default=10.0, validator=_window_length)


class Fingerprint(JobLogic):
    """Fingerprints a track into the catalog and reports the catalog tracks it matches."""

    params_class = Params

    def setup(self, config) -> None:
        self._index = FingerprintIndex.open(config.params.index)
        self._lock = threading.Lock()  # the runtime may call process() from several threads

    def process(self, ctx) -> Result:
        with ctx.inputs["audio"].open() as handle:
            audio = decode_audio(handle.read(), FINGERPRINT_SAMPLE_RATE, name=ctx.element)
        hashes, frames = landmarks(audio.samples, REFERENCE)
        with self._lock:
            already = ctx.element in self._index
            overlaps = find_overlaps(self._index, audio.samples, window_s=ctx.params.window_s)
            overlaps = [o for o in overlaps if o.track != ctx.element]
            self._index.add(ctx.element, audio)
            self._index.commit()
        ctx.metrics.counter("hashes").inc(len(hashes))
        ctx.log.info("%d hashes, %d catalog matches", len(hashes), len(overlaps))
        report = {
            "track": ctx.element,
            "duration_s": round(audio.duration_s, 3),
            "sample_rate": audio.source_sample_rate,
            "channels": audio.source_channels,
            "format": audio.source_format,
            "hashes": len(hashes),
            "hashes_per_s": round(len(hashes) / max(audio.duration_s, 1e-9), 1),
            "already_in_catalog": already,
            "matches": [o.to_json() for o in overlaps],
        }
        return Result(outputs={"report": report, "fingerprint": _artifact(hashes, frames)})

    def teardown(self) -> None:
        self._index.close()


def _artifact(hashes: np.ndarray, frames: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, hashes=hashes, frames=frames, frame_s=np.float64(FRAME_S))
    return buffer.getvalue()
