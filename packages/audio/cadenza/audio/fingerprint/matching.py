"""Offset-histogram voting: which stored track a query's landmarks agree on, and where.

Every lookup hit says "this query hash, at query frame q, is stored for track T at frame
t"; a true match makes many hits agree on one offset t - q. The score is the number of
hits at the best offset of the best track (with a one-frame tolerance either side); the
runner-up is the best score of any other track, which tells a real match from chance.

Identical copies in the store (a catalog's duplicates) tie with each other, so `vote`
finds no match for them; `vote_all` accepts such a group of near-tied tracks together,
as long as the group stands out from every track outside it.
"""

from __future__ import annotations

import attrs
import numpy as np

#: a match needs at least this many agreeing landmarks ...
MIN_SCORE = 15
#: ... and at least this many times the best other track's score.
MIN_RATIO = 3.0
#: vote_all: tracks scoring at least this fraction of the best one are near-tied with it.
TIE_FRACTION = 0.5


@attrs.frozen
class Votes:
    """The best (track, offset) of one query: track index into the store's tracks."""

    track: int | None
    offset_frames: int
    score: int
    runner_up: int


def _smoothed_votes(query_frames, positions, values, track_starts):
    """(key per (track, offset), its votes with one frame of tolerance either side)."""
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
    return unique, smoothed


def _offset(key) -> int:
    return int((int(key) & 0xFFFFFFFF) - (1 << 31))


def vote(
    query_frames: np.ndarray, positions: np.ndarray, values: np.ndarray, track_starts: np.ndarray
) -> Votes:
    """Votes of the lookup hits `(positions, values)` for query hashes at `query_frames`."""
    if len(values) == 0 or len(track_starts) == 0:
        return Votes(None, 0, 0, 0)
    unique, smoothed = _smoothed_votes(query_frames, positions, values, track_starts)
    best = int(np.argmax(smoothed))
    best_track = int(unique[best] >> 32)
    others = smoothed[(unique >> 32) != best_track]
    return Votes(
        track=best_track,
        offset_frames=_offset(unique[best]),
        score=int(smoothed[best]),
        runner_up=int(others.max()) if len(others) else 0,
    )


def vote_all(
    query_frames: np.ndarray, positions: np.ndarray, values: np.ndarray, track_starts: np.ndarray
) -> list[Votes]:
    """The near-tied best tracks (see the module docstring), best first; each one's
    runner-up is the best track outside the group."""
    if len(values) == 0 or len(track_starts) == 0:
        return []
    unique, smoothed = _smoothed_votes(query_frames, positions, values, track_starts)
    key_tracks = unique >> 32
    order = np.lexsort((-smoothed, key_tracks))  # by track, each track's best first
    firsts = order[np.r_[True, key_tracks[order][1:] != key_tracks[order][:-1]]]
    firsts = firsts[np.argsort(-smoothed[firsts], kind="stable")]
    scores = smoothed[firsts]
    tied = scores >= TIE_FRACTION * scores[0]
    runner_up = int(scores[~tied].max()) if (~tied).any() else 0
    return [
        Votes(int(key_tracks[i]), _offset(unique[i]), int(smoothed[i]), runner_up)
        for i in firsts[tied]
    ]


def confidence(score: int, runner_up: int) -> float:
    """How sure a match is, in [0, 1]: 0 below the acceptance thresholds.

    Grows with the margin over both the minimum score and the runner-up's score.
    """
    if score < MIN_SCORE or score < MIN_RATIO * runner_up:
        return 0.0
    over_minimum = 1.0 - np.exp(-(score - MIN_SCORE + 1) / MIN_SCORE)
    over_runner_up = 1.0 - (runner_up + 1) / (score + 1)
    return float(np.clip(over_minimum * over_runner_up * 2.0, 0.0, 1.0))
