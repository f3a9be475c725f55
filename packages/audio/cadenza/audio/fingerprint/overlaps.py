"""Which catalog tracks a whole new track overlaps: duplicates, re-uploads, excerpts.

The track is cut into consecutive windows; each window is identified on its own (every
identical copy in the catalog counts: `FingerprintIndex.identify_all`), and the windows
that match one catalog track are summarised as one `Overlap`.
"""

from __future__ import annotations

import attrs
import numpy as np

from cadenza.audio.fingerprint.index import FingerprintIndex
from cadenza.audio.fingerprint.landmarks import SAMPLE_RATE


@attrs.frozen
class Overlap:
    """A catalog track the new track overlaps.

    `offset_s` is where the new track's start lies on the catalog track's timeline (so an
    excerpt cut 30 s into a catalog track has offset 30; negative when the catalog track
    starts inside the new one); `windows` counts the windows that matched it.
    """

    track: str
    offset_s: float
    windows: int
    score: float
    confidence: float

    def to_json(self) -> dict:
        return {
            "track": self.track,
            "offset_s": round(self.offset_s, 3),
            "windows": self.windows,
            "score": self.score,
            "confidence": round(self.confidence, 4),
        }


def find_overlaps(
    index: FingerprintIndex,
    samples: np.ndarray,
    *,
    window_s: float = 10.0,
) -> list[Overlap]:
    """The catalog tracks that windows of `samples` (mono, 8 kHz) match, best first."""
    window = int(window_s * SAMPLE_RATE)
    found: dict[str, list] = {}
    starts = range(0, max(1, len(samples) - window // 2), window)
    for start in starts:
        for match in index.identify_all(samples[start : start + window]):
            found.setdefault(match.track, []).append((match.offset_s - start / SAMPLE_RATE, match))
    overlaps = []
    for track, hits in found.items():
        offsets = np.array([offset for offset, _ in hits])
        overlaps.append(
            Overlap(
                track=track,
                offset_s=float(np.median(offsets)),
                windows=len(hits),
                score=max(m.score for _, m in hits),
                confidence=max(m.confidence for _, m in hits),
            )
        )
    return sorted(overlaps, key=lambda o: (-o.windows, -o.score, o.track))
