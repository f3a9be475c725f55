"""Offset-histogram voting: which stored track a query's landmarks agree on, and where.

Every lookup hit says "this query hash, at query frame q, is stored for track T at frame
t"; a true match makes many hits agree on one offset t - q. The score is the number of
hits at the best offset of the best track (with a one-frame tolerance either side); the
runner-up is the best score of any other track, which tells a real match from chance.
"""

from __future__ import annotations

import attrs
import numpy as np

#: a match needs at least this many agreeing landmarks ...
MIN_SCORE = 15
#: ... and at least this many times the best other track's score.
MIN_RATIO = 3.0


@attrs.frozen
class Votes:
    """The best (track, offset) of one query: track index into the store's tracks."""

    track: int | None
    offset_frames: int
    score: int
    runner_up: int


def vote(
    query_frames: np.ndarray, positions: np.ndarray, values: np.ndarray, track_starts: np.ndarray
) -> Votes:
    """Votes of the lookup hits `(positions, values)` for query hashes at `query_frames`."""
    if len(values) == 0 or len(track_starts) == 0:
        return Votes(None, 0, 0, 0)
    values = values.astype(np.int64)
    tracks = np.searchsorted(track_starts, values, side="right") - 1
    offsets = values - track_starts[tracks] - query_frames[positions]
    keys = tracks * (1 << 32) + (offsets + (1 << 31))
    unique, counts = np.unique(keys, return_counts=True)
    smoothed = counts.copy()
    for step in (-1, 1):
        neighbour = np.searchsorted(unique, unique + step)
        found = neighbour < len(unique)
        found[found] &= unique[neighbour[found]] == unique[found] + step
        smoothed[found] += counts[neighbour[found]]
    best = int(np.argmax(smoothed))
    best_track = int(unique[best] >> 32)
    key_tracks = unique >> 32
    others = smoothed[key_tracks != best_track]
    return Votes(
        track=best_track,
        offset_frames=int((unique[best] & 0xFFFFFFFF) - (1 << 31)),
        score=int(smoothed[best]),
        runner_up=int(others.max()) if len(others) else 0,
    )


def confidence(score: int, runner_up: int) -> float:
    """How sure a match is, in [0, 1]: 0 below the acceptance thresholds.

    Grows with the margin over both the minimum score and the runner-up's score.
    """
    if score < MIN_SCORE or score < MIN_RATIO * runner_up:
        return 0.0
    over_minimum = 1.0 - np.exp(-(score - MIN_SCORE + 1) / MIN_SCORE)
    over_runner_up = 1.0 - (runner_up + 1) / (score + 1)
    return float(np.clip(over_minimum * over_runner_up * 2.0, 0.0, 1.0))
