"""Fingerprinting on synthetic music: landmarks, identification under degradations, the store."""

import json
import subprocess
import textwrap

import numpy as np
import pytest
import soxr
from scipy import signal

from cadenza.audio.fingerprint import (
    FINGERPRINT_SAMPLE_RATE as SR,
)
from cadenza.audio.fingerprint import (
    FingerprintIndex,
    IndexFormatError,
    find_overlaps,
)
from cadenza.audio.fingerprint.landmarks import (
    MAX_DT,
    N_FFT,
    QUERY,
    REFERENCE,
    find_peaks,
    landmarks,
    spectrogram,
)
from cadenza.audio.fingerprint.synthetic import melody
from cadenza_fixtures import python_command, subprocess_env

TRACKS = {f"song-{seed}": melody(60, seed) for seed in range(1, 7)}


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    index = FingerprintIndex.open(tmp_path_factory.mktemp("index"))
    for name, samples in TRACKS.items():
        index.add(name, samples)
    index.commit()
    return index


def excerpt(name, start_s, seconds):
    start = int(start_s * SR)
    return TRACKS[name][start : start + int(seconds * SR)]


def with_noise(samples, snr_db, seed=0):
    noise = np.random.default_rng(seed).normal(size=len(samples)).astype(np.float32)
    power = np.mean(samples**2) / 10 ** (snr_db / 10)
    return samples + noise * np.sqrt(power)


def test_a_tones_peaks_sit_at_its_frequency():
    t = np.arange(4 * SR) / SR
    tone = np.sin(2 * np.pi * 1000.0 * t).astype(np.float32)
    _, bins = find_peaks(spectrogram(tone), QUERY)
    assert len(bins) > 0
    assert set(np.round(bins * SR / N_FFT / 10) * 10) == {1000.0}


def test_reference_landmarks_are_sparser_than_query_landmarks_and_deterministic():
    song = TRACKS["song-1"]
    reference, _ = landmarks(song, REFERENCE)
    query, _ = landmarks(song, QUERY)
    assert 30 < len(reference) / 60 < 120  # hashes per second: the index stays small
    assert len(query) > 2 * len(reference)
    again, _ = landmarks(song.copy(), REFERENCE)
    np.testing.assert_array_equal(reference, again)


def test_every_reference_pair_is_within_the_target_zone():
    hashes, _ = landmarks(TRACKS["song-2"], REFERENCE)
    dt = hashes & 0x3F
    assert dt.min() >= 1 and dt.max() <= MAX_DT


@pytest.mark.parametrize("start_s", [0.0, 7.3, 21.77, 50.01])
def test_a_clean_excerpt_matches_its_track_at_its_offset(index, start_s):
    match = index.identify(excerpt("song-3", start_s, 5))
    assert match.track == "song-3"
    assert abs(match.offset_s - start_s) <= 0.1
    assert match.confidence > 0.9


@pytest.mark.parametrize(
    "degrade",
    [
        pytest.param(lambda x: with_noise(x, 10), id="noise-10dB"),
        pytest.param(lambda x: with_noise(x, 0), id="noise-0dB"),
        pytest.param(lambda x: soxr.resample(x, SR * 1.02, SR), id="speed+2%"),
        pytest.param(lambda x: soxr.resample(x, SR * 0.98, SR), id="speed-2%"),
        pytest.param(
            lambda x: with_noise(
                signal.sosfilt(signal.butter(4, [300, 3400], "bandpass", fs=SR, output="sos"), x),
                15,
            ),
            id="phone-band",
        ),
    ],
)
def test_a_degraded_excerpt_still_matches(index, degrade):
    query = np.asarray(degrade(excerpt("song-4", 12.34, 5)), np.float32)
    match = index.identify(query)
    assert match.track == "song-4"
    assert abs(match.offset_s - 12.34) <= 0.15  # speed changes stretch the excerpt


def test_music_that_was_never_indexed_matches_nothing(index):
    for seed in range(100, 110):
        match = index.identify(melody(5, seed))
        assert match.track is None, match
        assert match.offset_s is None and match.confidence == 0.0


def test_silence_and_noise_match_nothing(index):
    assert index.identify(np.zeros(5 * SR, np.float32)).track is None
    assert index.identify(with_noise(np.full(5 * SR, 1e-3, np.float32), -20)).track is None
    assert index.identify(np.zeros(10, np.float32)).track is None


def test_the_index_survives_reopening_and_adds_incrementally(tmp_path):
    first = FingerprintIndex.open(tmp_path / "db")
    first.add("song-1", TRACKS["song-1"])
    report = first.commit()
    assert [t.track_id for t in report.added] == ["song-1"]
    first.close()
    second = FingerprintIndex.open(tmp_path / "db")
    assert second.identify(excerpt("song-1", 30, 5)).track == "song-1"
    second.add("song-2", TRACKS["song-2"])
    second.add("song-1", TRACKS["song-1"])
    report = second.commit()
    assert [t.track_id for t in report.added] == ["song-2"]
    assert report.already_present == ("song-1",)
    assert second.identify(excerpt("song-2", 30, 5)).track == "song-2"
    assert second.identify(excerpt("song-1", 30, 5)).track == "song-1"


def test_readers_see_what_another_writer_added(tmp_path):
    reader = FingerprintIndex.open(tmp_path / "db")
    assert reader.identify(excerpt("song-5", 3, 5)).track is None
    writer = FingerprintIndex.open(tmp_path / "db")
    writer.add("song-5", TRACKS["song-5"])
    writer.commit()
    assert reader.identify(excerpt("song-5", 3, 5)).track == "song-5"


def test_many_small_commits_are_merged_and_lose_nothing(tmp_path):
    index = FingerprintIndex.open(tmp_path / "db")
    names = list(TRACKS)
    for name in names + names:  # 12 commits, 6 of them duplicates
        index.add(name, TRACKS[name])
        index.commit()
    segments = sorted(p.name for p in (tmp_path / "db").glob("seg-*.hash"))
    manifest = json.loads((tmp_path / "db" / "manifest.json").read_text())
    assert len(segments) == len(manifest["segments"]) <= 8
    assert [t["track_id"] for t in manifest["tracks"]] == names
    for name in names:
        assert index.identify(excerpt(name, 40, 5)).track == name


def test_a_damaged_manifest_is_reported_with_its_path(tmp_path):
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "manifest.json").write_text("{not json")
    with pytest.raises(IndexFormatError, match=r"manifest\.json is not a fingerprint index"):
        FingerprintIndex.open(tmp_path / "db")
    (tmp_path / "db" / "manifest.json").write_text('{"format": "something-else"}')
    with pytest.raises(IndexFormatError, match="found 'something-else'"):
        FingerprintIndex.open(tmp_path / "db")
    with pytest.raises(FileNotFoundError, match="no fingerprint index"):
        FingerprintIndex.open(tmp_path / "missing", create=False)


def test_a_folder_that_is_not_an_index_or_a_damaged_one_is_reported_by_file(tmp_path):
    (tmp_path / "music").mkdir()
    (tmp_path / "music" / "song.wav").write_bytes(b"RIFF")
    with pytest.raises(IndexFormatError, match=r"music is not a fingerprint index: it has no"):
        FingerprintIndex.open(tmp_path / "music", create=False)
    with pytest.raises(IndexFormatError, match=r"no manifest\.json; it holds song\.wav$"):
        FingerprintIndex.open(tmp_path / "music")  # never an index among other files
    assert sorted(p.name for p in (tmp_path / "music").iterdir()) == ["song.wav"]
    (tmp_path / "empty").mkdir()
    assert "x" not in FingerprintIndex.open(tmp_path / "empty")  # an empty folder is fine
    index = FingerprintIndex.open(tmp_path / "db")
    index.add("song-1", TRACKS["song-1"])
    index.commit()
    manifest_path = tmp_path / "db" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    segment = tmp_path / "db" / f"{manifest['segments'][0]}.hash"
    segment.write_bytes(segment.read_bytes()[:-1])
    with pytest.raises(IndexFormatError, match=rf"{segment.name} is damaged: \d+ bytes is not"):
        FingerprintIndex.open(tmp_path / "db")
    del manifest["segments"]
    manifest_path.write_text(json.dumps(manifest))
    with pytest.raises(IndexFormatError, match="expected 'segments' to be list, found nothing"):
        FingerprintIndex.open(tmp_path / "db", create=False)


@pytest.mark.parametrize("remote", ["gs://bucket/index", "s3://bucket/index"])
def test_a_remote_index_path_is_refused_not_made_a_local_folder(tmp_path, monkeypatch, remote):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match=f"{remote!r}: a fingerprint index is a local folder"):
        FingerprintIndex.open(remote)
    assert list(tmp_path.iterdir()) == []


def test_membership_sees_what_another_instance_committed(tmp_path):
    first, second = FingerprintIndex.open(tmp_path / "db"), FingerprintIndex.open(tmp_path / "db")
    assert "song-3" not in second and second.track("song-3") is None
    first.add("song-3", TRACKS["song-3"])
    first.commit()
    assert "song-3" in second
    assert second.track("song-3").duration_s == pytest.approx(60.0)


def test_overlaps_find_an_excerpt_and_a_reupload(index):
    clip = excerpt("song-6", 20, 25)
    (overlap,) = find_overlaps(index, clip)
    assert overlap.track == "song-6"
    assert abs(overlap.offset_s - 20) <= 0.1
    assert overlap.windows >= 2
    assert find_overlaps(index, melody(30, 999)) == []


def test_a_track_holding_a_catalog_track_twice_reports_one_place_not_their_mean(index):
    song, other = TRACKS["song-4"][: 30 * SR], melody(30, 999)
    for new in (np.concatenate([song, song]), np.concatenate([song, other, song])):
        (overlap,) = find_overlaps(index, new)  # the copies are at 0 and -30, or 0 and -60
        assert overlap.track == "song-4"
        assert overlap.offset_s == pytest.approx(0, abs=0.05)  # the first copy, not -15 or -30
        assert overlap.windows == 3  # the windows at that place
    # the place most windows agree on wins, wherever it is in the new track
    (overlap,) = find_overlaps(index, np.concatenate([song[: 10 * SR], other, song]))
    assert overlap.offset_s == pytest.approx(-40, abs=0.05) and overlap.windows == 3


@pytest.mark.parametrize("window_s", [float("inf"), float("nan"), 0.0001, 1.9, 601.0, -10.0])
def test_overlaps_refuse_a_window_the_matching_cannot_use(index, window_s):
    with pytest.raises(ValueError, match=f"'window_s' must be .* from 2 to 600, not {window_s}"):
        find_overlaps(index, TRACKS["song-1"][: 20 * SR], window_s=window_s)


def test_overlaps_take_any_window_in_range(index):
    for window_s in (2.0, 7.3, 600):
        (overlap,) = find_overlaps(index, TRACKS["song-2"][: 30 * SR], window_s=window_s)
        assert overlap.track == "song-2" and abs(overlap.offset_s) <= 0.05


def test_identical_copies_in_the_catalog_are_all_found(tmp_path):
    catalog = FingerprintIndex.open(tmp_path / "db")
    for name in ("song-1", "song-2"):
        catalog.add(name, TRACKS[name])
    catalog.add("song-1-copy", TRACKS["song-1"])
    catalog.commit()
    query = excerpt("song-1", 12, 10)
    assert catalog.identify(query).track is None  # a tie: no single answer
    found = catalog.identify_all(query)
    assert sorted(m.track for m in found) == ["song-1", "song-1-copy"]
    assert all(abs(m.offset_s - 12) <= 0.1 for m in found)
    assert [m.track for m in catalog.identify_all(excerpt("song-2", 5, 10))] == ["song-2"]
    assert catalog.identify_all(melody(10, 999)) == []
    overlaps = find_overlaps(catalog, TRACKS["song-1"])
    assert sorted(o.track for o in overlaps) == ["song-1", "song-1-copy"]


INDEXER = textwrap.dedent(
    """
    import sys
    from cadenza.audio.fingerprint import FingerprintIndex
    from cadenza.audio.fingerprint.synthetic import melody
    index = FingerprintIndex.open(sys.argv[1])
    for seed in range(1000):
        index.add(f"track-{seed}", melody(20, seed))
        report = index.commit()
        print("added", *[t.track_id for t in report.added], flush=True)
    """
)


def test_killing_the_indexer_loses_nothing_it_reported_added(tmp_path):
    db = tmp_path / "db"
    indexer = subprocess.Popen(
        [*python_command(), "-c", INDEXER, str(db)],
        stdout=subprocess.PIPE,
        text=True,
        env=subprocess_env(),
    )
    reported = []
    try:
        for line in indexer.stdout:
            reported += line.split()[1:]
            if len(reported) >= 12:
                indexer.kill()  # SIGKILL, mid-run: the next track is being fingerprinted
                break
    finally:
        indexer.kill()
        indexer.wait()
    assert indexer.returncode == -9
    index = FingerprintIndex.open(db)
    stored = [t.track_id for t in index.store.tracks()]
    assert stored[: len(reported)] == reported
    for name in reported:
        seed = int(name.split("-")[1])
        assert index.identify(melody(20, seed)[5 * SR : 10 * SR]).track == name
    assert not list(db.glob(".*.tmp"))
    index.add("after-crash", TRACKS["song-1"])
    assert [t.track_id for t in index.commit().added] == ["after-crash"]
    stray = {p.stem for p in db.glob("seg-*")} - set(
        json.loads((db / "manifest.json").read_text())["segments"]
    )
    assert stray == set()
