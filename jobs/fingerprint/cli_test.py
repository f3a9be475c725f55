"""The command line, run as other tools will run it: a subprocess, JSON lines out."""

import io
import json
import pathlib
import subprocess

import pytest
import soundfile

from cadenza.audio.fingerprint.synthetic import melody
from cadenza_fixtures import python_command, runfiles_root, subprocess_env

RATE = 22050
CLI = "jobs/fingerprint/cli.py"


def cli(*args, cwd):
    return subprocess.run(
        [*python_command(), str(runfiles_root() / CLI), *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=subprocess_env(BUILD_WORKING_DIRECTORY=str(cwd)),
        timeout=300,
    )


@pytest.fixture(scope="module")
def library(tmp_path_factory):
    """A folder of tracks (nested, three formats, one broken file) and the index built from it."""
    root = tmp_path_factory.mktemp("library")
    (root / "music" / "more").mkdir(parents=True)
    tracks = {}
    for seed, target in [(1, "music/one.wav"), (2, "music/two.flac"), (3, "music/more/three.ogg")]:
        tracks[pathlib.Path(target).stem] = melody(40, seed, RATE)
        soundfile.write(root / target, tracks[pathlib.Path(target).stem], RATE)
    (root / "music" / "broken.mp3").write_bytes(b"ID3 but nothing else")
    (root / "music" / "notes.txt").write_text("not audio, not looked at")
    result = cli("index", "--db", "db", "music", cwd=root)
    return root, tracks, result


def test_index_adds_every_audio_file_in_the_folders_and_reports_the_bad_one(library):
    root, _, result = library
    assert result.returncode == 1, result.stderr
    assert "broken.mp3" in result.stderr and "notes.txt" not in result.stderr
    assert "indexed 3 tracks" in result.stderr
    manifest = json.loads((root / "db" / "manifest.json").read_text())
    assert sorted(t["track_id"] for t in manifest["tracks"]) == ["one", "three", "two"]


def test_indexing_again_adds_nothing(library):
    root, _, _ = library
    again = cli("index", "--db", "db", "music/one.wav", cwd=root)
    assert again.returncode == 0, again.stderr
    assert "indexed 0 tracks" in again.stderr and "1 already there" in again.stderr


def test_identify_prints_one_json_object_per_query(library, tmp_path):
    root, tracks, _ = library
    start = int(12.5 * RATE)
    soundfile.write(tmp_path / "excerpt.mp3", tracks["two"][start : start + 5 * RATE], RATE)
    soundfile.write(tmp_path / "unknown.wav", melody(5, 77, RATE), RATE)
    (tmp_path / "garbage.wav").write_bytes(b"RIFF....WAVEjunk")
    result = cli(
        "identify", "--db", str(root / "db"), "--format", "jsonl",
        "excerpt.mp3", str(tmp_path / "unknown.wav"), "garbage.wav", "missing.flac",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["query"] for r in lines] == [
        "excerpt.mp3", str(tmp_path / "unknown.wav"), "garbage.wav", "missing.flac"
    ]  # fmt: skip
    found, unknown, garbage, missing = lines
    assert set(found) == {"query", "match", "offset_s", "score", "confidence", "latency_s"}
    assert found["match"] == "two" and abs(found["offset_s"] - 12.5) <= 0.1
    assert 0.5 < found["confidence"] <= 1 and found["score"] > 0 and found["latency_s"] > 0
    assert unknown["match"] is None and unknown["offset_s"] is None
    assert unknown["confidence"] == 0
    assert garbage["match"] is None and "16 bytes, starting b'RIFF" in garbage["error"]
    assert missing["error"] == "no such file"
    assert "garbage.wav" in result.stderr and "missing.flac" in result.stderr


def test_identify_without_an_index_is_a_usage_error(tmp_path):
    result = cli("identify", "--db", "nowhere", "--format", "jsonl", "x.wav", cwd=tmp_path)
    assert result.returncode == 2
    assert "--db nowhere" in result.stderr and "no fingerprint index" in result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_the_interface_is_exactly_as_documented(tmp_path):
    result = cli("identify", "--db", "db", "--format", "csv", "x.wav", cwd=tmp_path)
    assert result.returncode == 2 and "invalid choice: 'csv'" in result.stderr


def flac_claiming_2_to_the_35_frames() -> bytes:
    """A valid 1 s FLAC whose header claims 2^35 more frames (128 GiB if allocated)."""
    buffer = io.BytesIO()
    soundfile.write(buffer, melody(1, 9, 8000), 8000, format="FLAC")
    data = bytearray(buffer.getvalue())
    data[8 + 13] = (data[8 + 13] & 0xF0) | 0x8  # STREAMINFO total samples, bits 32-35
    return bytes(data)


def test_a_file_that_cannot_be_decoded_is_reported_and_the_others_still_run(tmp_path):
    soundfile.write(tmp_path / "good.wav", melody(20, 4, RATE), RATE)
    (tmp_path / "bomb.flac").write_bytes(flac_claiming_2_to_the_35_frames())
    indexed = cli("index", "--db", "db", "good.wav", "bomb.flac", cwd=tmp_path)
    assert indexed.returncode == 1, indexed.stderr
    assert "skipped bomb.flac: corrupt: FLAC header declares 34359746368 frames" in indexed.stderr
    assert "indexed 1 tracks" in indexed.stderr and "Traceback" not in indexed.stderr
    manifest = json.loads((tmp_path / "db" / "manifest.json").read_text())
    assert [t["track_id"] for t in manifest["tracks"]] == ["good"]
    found = cli("identify", "--db", "db", "bomb.flac", "good.wav", cwd=tmp_path)
    assert found.returncode == 1 and "Traceback" not in found.stderr
    bomb, good = [json.loads(line) for line in found.stdout.splitlines()]
    assert bomb["match"] is None and "declares 34359746368 frames" in bomb["error"]
    assert good["match"] == "good"


def test_identical_copies_in_the_index_are_reported_together(tmp_path):
    song = melody(30, 5, RATE)
    for name in ("hit.wav", "hit-remaster.flac"):
        soundfile.write(tmp_path / name, song, RATE)
    soundfile.write(tmp_path / "other.wav", melody(30, 6, RATE), RATE)
    soundfile.write(tmp_path / "query.wav", song[10 * RATE : 15 * RATE], RATE)
    soundfile.write(tmp_path / "query-other.wav", melody(30, 6, RATE)[: 5 * RATE], RATE)
    indexed = cli("index", "--db", "db", "hit.wav", "hit-remaster.flac", "other.wav", cwd=tmp_path)
    assert indexed.returncode == 0, indexed.stderr
    result = cli("identify", "--db", "db", "query.wav", "query-other.wav", cwd=tmp_path)
    tied, single = [json.loads(line) for line in result.stdout.splitlines()]
    (also,) = tied["also_in"]
    assert {tied["match"], also["match"]} == {"hit", "hit-remaster"}
    assert abs(tied["offset_s"] - 10) <= 0.1 and abs(also["offset_s"] - 10) <= 0.1
    assert tied["confidence"] > 0.5
    assert single["match"] == "other" and "also_in" not in single


def test_an_excerpt_of_a_clip_in_the_index_names_the_clip_and_the_track_with_offsets(tmp_path):
    song = melody(40, 7, RATE)
    soundfile.write(tmp_path / "track.wav", song, RATE)
    soundfile.write(tmp_path / "clip.wav", song[10 * RATE : 30 * RATE], RATE)  # 10-30 s
    soundfile.write(tmp_path / "query.wav", song[15 * RATE : 20 * RATE], RATE)
    assert cli("index", "--db", "db", "track.wav", "clip.wav", cwd=tmp_path).returncode == 0
    result = json.loads(cli("identify", "--db", "db", "query.wav", cwd=tmp_path).stdout)
    offsets = {result["match"]: result["offset_s"]}
    offsets.update({m["match"]: m["offset_s"] for m in result["also_in"]})
    assert offsets.keys() == {"track", "clip"}
    assert abs(offsets["track"] - 15) <= 0.1 and abs(offsets["clip"] - 5) <= 0.1


def test_different_files_with_one_track_id_are_refused_naming_both(tmp_path):
    for folder, seed, seconds in [("a", 1, 20), ("b", 2, 40), ("c", 3, 30)]:
        (tmp_path / folder).mkdir()
        soundfile.write(tmp_path / folder / "song.wav", melody(seconds, seed, RATE), RATE)
    first = cli("index", "--db", "db", "a", "b", "a/song.wav", cwd=tmp_path)
    assert first.returncode == 1
    assert "skipped b/song.wav: track id 'song' is already taken by a/song.wav" in first.stderr
    assert "indexed 1 tracks (0.01 h of audio)" in first.stderr  # 20 s, not 60 s
    assert "1 already there, 1 failed" in first.stderr  # a/song.wav given twice
    later = cli("index", "--db", "db", "c/song.wav", "a/song.wav", cwd=tmp_path)
    assert later.returncode == 1
    assert "skipped c/song.wav: the index already holds a different track 'song'" in later.stderr
    assert "indexed 0 tracks (0.00 h of audio)" in later.stderr
    assert "1 already there, 1 failed" in later.stderr


def test_other_audio_of_the_same_length_under_a_stored_track_id_is_refused(tmp_path):
    for folder, seed in [("a", 1), ("b", 2)]:
        (tmp_path / folder).mkdir()
        soundfile.write(tmp_path / folder / "jingle.wav", melody(20, seed, RATE), RATE)
    assert cli("index", "--db", "db", "a/jingle.wav", cwd=tmp_path).returncode == 0
    other = cli("index", "--db", "db", "b/jingle.wav", cwd=tmp_path)
    assert other.returncode == 1
    assert (
        "skipped b/jingle.wav: the index already holds a different track 'jingle' "
        "(the same length, 20.000 s, but other audio)" in other.stderr
    )
    again = cli("index", "--db", "db", "a/jingle.wav", cwd=tmp_path)
    assert again.returncode == 0 and "1 already there, 0 failed" in again.stderr


def test_a_db_that_is_not_a_local_index_is_a_usage_error(tmp_path):
    (tmp_path / "music").mkdir()
    soundfile.write(tmp_path / "music" / "q.wav", melody(5, 1, RATE), RATE)
    not_index = cli("identify", "--db", "music", "music/q.wav", cwd=tmp_path)
    assert not_index.returncode == 2 and not_index.stdout == ""
    assert "--db music:" in not_index.stderr and "has no manifest.json" in not_index.stderr
    remote = cli("index", "--db", "gs://bucket/db", "music", cwd=tmp_path)
    assert remote.returncode == 2 and "a fingerprint index is a local folder" in remote.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["music"]


def test_an_index_whose_every_file_failed_is_an_empty_index_identify_can_read(tmp_path):
    (tmp_path / "broken.wav").write_bytes(b"RIFF but nothing else")
    soundfile.write(tmp_path / "query.wav", melody(10, 7, RATE), RATE)
    made = cli("index", "--db", "db", "broken.wav", cwd=tmp_path)
    assert made.returncode == 1 and "indexed 0 tracks" in made.stderr, made.stderr
    found = cli("identify", "--db", "db", "query.wav", cwd=tmp_path)
    assert found.returncode == 0, found.stderr
    assert "holds no tracks" in found.stderr
    assert json.loads(found.stdout)["match"] is None
