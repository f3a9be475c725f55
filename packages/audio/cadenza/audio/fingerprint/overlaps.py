"""Which catalog tracks a whole new track overlaps: duplicates, re-uploads, excerpts.

The track is cut into consecutive windows; each window is identified on its own (every
identical copy in the catalog counts: `FingerprintIndex.identify_all`), and the windows
that match one catalog track are summarised as one `Overlap`. Windows agree on a place
when their offsets on the catalog track's timeline are within a frame or so of each
other; when the new track holds the catalog track more than once (A then A again, or A,
B, A), the place most windows agree on is reported, never an average of the places.
"""

from __future__ import annotations

import math

import attrs
import numpy as np

from cadenza.audio.fingerprint.index import FingerprintIndex
from cadenza.audio.fingerprint.landmarks import FRAME_S, SAMPLE_RATE

#: the window lengths `find_overlaps` takes, in seconds: shorter windows hold too few
#: landmarks to match reliably (2 s already misses one in eight), and one window per
#: ten minutes says little about where a track overlaps
MIN_WINDOW_S, MAX_WINDOW_S = 2.0, 600.0
#: windows whose offsets differ by at most this much agree on one place (offsets are
#: whole frames, and a window's start is rarely on a frame boundary)
_SAME_PLACE_S = 1.5 * FRAME_S


@attrs.frozen
class Overlap:
    """A catalog track the new track overlaps.

    `offset_s` is where the new track's start lies on the catalog track's timeline (so an
    excerpt cut 30 s into a catalog track has offset 30; negative when the catalog track
    starts inside the new one); `windows` counts the windows that matched it there, and
    `score` and `confidence` are the best of theirs. When several places match as many
    windows, the one the new track reaches first (the largest offset) is reported.
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
    """The catalog tracks that windows of `samples` (mono, 8 kHz) match, best first.

    `window_s` is the windows' length: from `MIN_WINDOW_S` to `MAX_WINDOW_S` seconds.
    """
    check_window_s(window_s)
    window = round(window_s * SAMPLE_RATE)
    found: dict[str, list] = {}
    starts = range(0, max(1, len(samples) - window // 2), window)
    for start in starts:
        for match in index.identify_all(samples[start : start + window]):
            found.setdefault(match.track, []).append((match.offset_s - start / SAMPLE_RATE, match))
    overlaps = []
    for track, hits in found.items():
        hits = max(_places(hits), key=lambda place: (len(place), place[-1][0]))
        overlaps.append(
            Overlap(
                track=track,
                offset_s=float(np.median([offset for offset, _ in hits])),
                windows=len(hits),
                score=max(m.score for _, m in hits),
                confidence=max(m.confidence for _, m in hits),
            )
        )
    return sorted(overlaps, key=lambda o: (-o.windows, -o.score, o.track))


def check_window_s(window_s: float) -> None:
    """Raise ValueError unless `window_s` is a finite length the matching can use."""
    if not (math.isfinite(window_s) and MIN_WINDOW_S <= window_s <= MAX_WINDOW_S):
        raise ValueError(
            f"'window_s' must be a number of seconds from {MIN_WINDOW_S:g} to "
            f"{MAX_WINDOW_S:g}, not {window_s!r}"
        )


def _places(hits: list) -> list[list]:
    """`hits` ((offset, match) pairs) grouped by offset: each group chains offsets at
    most `_SAME_PLACE_S` apart, in increasing order."""
    hits = sorted(hits, key=lambda hit: hit[0])
    places = [[hits[0]]]
    for hit in hits[1:]:
        if hit[0] - places[-1][-1][0] <= _SAME_PLACE_S:
            places[-1].append(hit)
        else:
            places.append([hit])
    return places
