"""The fingerprint store interface: hashes to (track, time), added in durable batches.

A store maps 32-bit landmark hashes to 32-bit values. A value is a position on one
global timeline of frames on which every track gets its own range when it is added, so
`value - track.start_frame` is the frame within the track. Any store that can keep
that mapping, add batches atomically and answer many lookups at once fits behind this
interface: the embedded default is `SegmentStore` (memory-mapped sorted arrays); a
distributed store (Bigtable, say) can be added later without touching the matcher.
"""

from __future__ import annotations

import abc

import attrs
import numpy as np


@attrs.frozen
class PendingTrack:
    """A fingerprinted track waiting to be added: its hashes and their frames in the track."""

    track_id: str
    hashes: np.ndarray  # uint32
    frames: np.ndarray  # int32, frame within the track of each hash
    n_frames: int
    duration_s: float


@attrs.frozen
class TrackRecord:
    """A track in the store: its id, its range on the global timeline, what it holds."""

    track_id: str
    start_frame: int
    n_frames: int
    n_hashes: int
    duration_s: float


@attrs.frozen
class AddReport:
    """What an `add_tracks` call did: the tracks added, and the ids it skipped as present."""

    added: tuple[TrackRecord, ...]
    already_present: tuple[str, ...]


class FingerprintStore(abc.ABC):
    """Where fingerprints live. Implementations must make `add_tracks` atomic and durable."""

    @abc.abstractmethod
    def add_tracks(self, tracks: list[PendingTrack]) -> AddReport:
        """Adds the tracks whose ids are not present yet; durable when this returns."""

    @abc.abstractmethod
    def lookup(self, hashes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each stored entry matching one of `hashes`: (index into `hashes`, value)."""

    @abc.abstractmethod
    def tracks(self) -> tuple[TrackRecord, ...]:
        """Every track, in timeline order."""

    @abc.abstractmethod
    def size_bytes(self) -> int:
        """Bytes the store takes on disk."""

    def refresh(self) -> None:  # noqa: B027 - optional: stores shared between processes
        """Sees what other processes added since this one opened the store."""

    def close(self) -> None:  # noqa: B027 - optional
        """Releases files and handles."""
