"""The command line, run as other tools will run it: a subprocess, JSON lines out."""

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
