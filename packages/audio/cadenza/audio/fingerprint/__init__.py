"""Audio fingerprinting: landmark hashes, an embedded index, offset-histogram matching.

See `index.FingerprintIndex` for the API and `landmarks` for the method.
"""

from cadenza.audio.fingerprint.index import SPEED_FACTORS, FingerprintIndex, Match
from cadenza.audio.fingerprint.landmarks import SAMPLE_RATE as FINGERPRINT_SAMPLE_RATE
from cadenza.audio.fingerprint.overlaps import Overlap, find_overlaps
from cadenza.audio.fingerprint.segment_store import IndexFormatError, SegmentStore
from cadenza.audio.fingerprint.store import AddReport, FingerprintStore, PendingTrack, TrackRecord

__all__ = [
    "FINGERPRINT_SAMPLE_RATE",
    "SPEED_FACTORS",
    "AddReport",
    "FingerprintIndex",
    "FingerprintStore",
    "IndexFormatError",
    "Match",
    "Overlap",
    "PendingTrack",
    "SegmentStore",
    "TrackRecord",
    "find_overlaps",
]
