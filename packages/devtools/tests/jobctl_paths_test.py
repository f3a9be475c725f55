"""`bazel run //tools:job -- ...` with relative paths: they are the user's, not the runfiles'.

`bazel run` starts the tool in its runfiles tree and names the directory the command was
typed in with BUILD_WORKING_DIRECTORY; the tests run it the same way."""

import pathlib

import pytest
from google.cloud import storage

from cadenza.devtools import jobctl
from cadenza.devtools.emulators import apply_env, restore_env
from cadenza.devtools.localstack import LocalStack
from cadenza.runtime.storage import write_atomically


@pytest.fixture
def user(tmp_path, monkeypatch) -> pathlib.Path:
    """The user's directory; the current one is an empty stand-in for the runfiles tree."""
    user, runfiles = tmp_path / "user", tmp_path / "runfiles"
    user.mkdir()
    runfiles.mkdir()
    monkeypatch.chdir(runfiles)
    monkeypatch.setenv("BUILD_WORKING_DIRECTORY", str(user))
    yield user
    assert list(runfiles.iterdir()) == [], "the tool wrote into the runfiles tree"


def said(capsys) -> str:
    """What the tool printed, without white space: rich wraps long paths anywhere."""
    return "".join(capsys.readouterr().out.split())


def text(expected: str) -> str:
    return "".join(expected.split())


def test_upload_reads_files_where_the_command_was_run(user, capsys):
    (user / "song.mp3").write_bytes(b"ID3 not really audio")
    stack = LocalStack(user / "stack")
    state, _ = stack.ensure()
    previous = apply_env(state.env)
    try:
        to = ["--to", "gs://uploads/incoming/"]
        assert jobctl.main(["--stack-root", "stack", "upload", "song.mp3", *to]) == 0
        assert text("gs://uploads/incoming/song.mp3 (20 bytes)") in said(capsys)
        blob = storage.Client(project=state.project).bucket("uploads").blob("incoming/song.mp3")
        assert blob.download_as_bytes() == b"ID3 not really audio"
    finally:
        restore_env(previous)
        stack.stop()


def test_provenance_and_the_roots_are_the_users_too(user, capsys):
    write_atomically(str(user / "t1.json"), b"{}", overwrite=False, provenance={"job": "x"})
    assert jobctl.main(["--stack-root", "stack", "provenance", "t1.json"]) == 0
    assert text(str(user / "t1.json")) in said(capsys)
    assert jobctl.main(["--jobs-root", "jobs", "status"]) == 0
    assert text(f"no jobs started from here ({user / 'jobs'})") in said(capsys)
    assert jobctl.main(["--stack-root", "stack", "stack", "status"]) == 1
    assert text(f"the local stack in {user / 'stack'} is not running") in said(capsys)
