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


@pytest.fixture
def state(user):
    """The local stack running in the user's `stack` folder, this process pointed at it."""
    stack = LocalStack(user / "stack")
    state, _ = stack.ensure()
    previous = apply_env(state.env)
    try:
        yield state
    finally:
        restore_env(previous)
        stack.stop()


def said(capsys) -> str:
    """What the tool printed, without white space: rich wraps long paths anywhere."""
    return "".join(capsys.readouterr().out.split())


def text(expected: str) -> str:
    return "".join(expected.split())


def test_upload_reads_files_where_the_command_was_run(user, capsys, state):
    (user / "song.mp3").write_bytes(b"ID3 not really audio")
    to = ["--to", "gs://uploads/incoming/"]
    assert jobctl.main(["--stack-root", "stack", "upload", "song.mp3", *to]) == 0
    first = said(capsys)
    assert text("gs://uploads/incoming/song.mp3 (20 bytes)") in first
    assert text("note: created gs://uploads: it did not exist, so no deployed job") in first
    assert jobctl.main(["--stack-root", "stack", "upload", "song.mp3", *to]) == 0
    assert "note:" not in said(capsys)  # it exists now
    blob = storage.Client(project=state.project).bucket("uploads").blob("incoming/song.mp3")
    assert blob.download_as_bytes() == b"ID3 not really audio"


def test_provenance_and_the_roots_are_the_users_too(user, capsys):
    write_atomically(str(user / "t1.json"), b"{}", overwrite=False, provenance={"job": "x"})
    assert jobctl.main(["--stack-root", "stack", "provenance", "t1.json"]) == 0
    assert text(str(user / "t1.json")) in said(capsys)
    assert jobctl.main(["--jobs-root", "jobs", "status"]) == 0
    assert text(f"no jobs started from here ({user / 'jobs'})") in said(capsys)
    assert jobctl.main(["--stack-root", "stack", "stack", "status"]) == 1
    assert text(f"the local stack in {user / 'stack'} is not running") in said(capsys)


@pytest.mark.parametrize(
    "command",
    [["ls", "/tmp"], ["upload", "song.mp3", "--to", "/tmp/x/"], ["ls", "gs://"]],
)
def test_a_location_that_is_not_gs_is_a_usage_error_not_a_traceback(user, capsys, command):
    (user / "song.mp3").write_bytes(b"ID3")
    assert jobctl.main(["--stack-root", "stack", *command]) == 2
    assert text("is not a gs://BUCKET[/PREFIX] location") in said(capsys)


def test_names_with_square_brackets_are_printed_as_they_are(user, capsys, state):
    (user / "song [live].mp3").write_bytes(b"ID3 live")
    (user / "[b]old.mp3").write_bytes(b"ID3 bold")
    to = ["--to", "gs://uploads/incoming/"]
    files = ["song [live].mp3", "[b]old.mp3"]
    assert jobctl.main(["--stack-root", "stack", "upload", *files, *to]) == 0
    printed = said(capsys)
    assert text("gs://uploads/incoming/song [live].mp3 (8 bytes)") in printed
    assert text("gs://uploads/incoming/[b]old.mp3 (8 bytes)") in printed
    assert jobctl.main(["--stack-root", "stack", "ls", "gs://uploads/incoming/"]) == 0
    printed = said(capsys)
    assert text("gs://uploads/incoming/song [live].mp3") in printed
    assert text("gs://uploads/incoming/[b]old.mp3") in printed
    assert jobctl.main(["--stack-root", "stack", "ls", "gs://[red]x"]) == 2
    assert text("'gs://[red]x' is not a gs://BUCKET[/PREFIX] location") in said(capsys)
    assert jobctl.main(["--stack-root", "stack", "ls", "gs://nothere/[x]"]) == 1
    assert text("no bucket gs://nothere on the local stack") in said(capsys)


def test_job_names_and_paths_with_square_brackets_are_printed_as_they_are(user, capsys):
    (user / "jobs [old]" / "a[b]").mkdir(parents=True)
    assert jobctl.main(["--jobs-root", "jobs [old]", "logs", "a[b]"]) == 1
    assert text(f"no log at {user / 'jobs [old]' / 'a[b]' / 'job.log'}") in said(capsys)
    assert jobctl.main(["--jobs-root", "jobs [old]", "stop", "x[y]"]) == 1
    assert text("no job 'x[y]' under") in said(capsys)
    assert jobctl.main(["--jobs-root", "jobs [old]", "status"]) == 0
    assert text(f"({user / 'jobs [old]'})") in said(capsys)
    assert jobctl.main(["--stack-root", "[s]tack", "send", "j[1]", "x"]) == 1
    assert text(f"the local stack in {user / '[s]tack'} is not running: deploy j[1]") in said(
        capsys
    )
    assert jobctl.main(["--stack-root", "[s]tack", "provenance", "x[1].json"]) == 1
    assert text(f"{user / 'x[1].json'}: no provenance recorded") in said(capsys)


def test_stopping_a_job_that_does_not_exist_says_only_that(user, capsys):
    assert jobctl.main(["--jobs-root", "jobs", "stop", "fingerprnt"]) == 1
    out = said(capsys)
    assert "stoppingfingerprnt(SIGTERM" not in out
    assert text(f"stop: no job 'fingerprnt' under {user / 'jobs'}") in out


def test_cat_prints_records_from_the_stack_or_here(user, capsys, state):
    (user / "note.txt").write_text("plain text\n")
    record = b'{"element": "song [live].mp3", "reason": "not audio", "stage": "logic"}'
    storage.Client(project=state.project).create_bucket("data").blob(
        "dead_letter/x.json"
    ).upload_from_string(record)
    paths = ["gs://data/dead_letter/x.json", "note.txt", "missing.json"]
    assert jobctl.main(["--stack-root", "stack", "cat", *paths]) == 1  # one is missing
    out = capsys.readouterr().out
    assert '"element": "song [live].mp3"' in out and '"stage": "logic"' in out
    assert "plain text" in out
    assert text(f"cat: {user / 'missing.json'}: ") in "".join(out.split())


def test_upload_and_ls_print_one_line_per_object_however_narrow_the_terminal(
    user, capsys, state, monkeypatch
):
    monkeypatch.setenv("COLUMNS", "40")  # rich wraps at the width: paths must not be cut
    name = "a-rather-long-folder-name/and-a-track-name-longer-than-the-terminal.mp3"
    (user / "song.mp3").write_bytes(b"ID3 not really audio")
    to = ["--to", f"gs://uploads/{name.rsplit('/', 1)[0]}/"]
    assert jobctl.main(["--stack-root", "stack", "upload", "song.mp3", *to]) == 0
    uploaded = f"gs://uploads/{name.rsplit('/', 1)[0]}/song.mp3"
    assert capsys.readouterr().out.endswith(f"\n{uploaded}  (20 bytes)\n")
    assert jobctl.main(["--stack-root", "stack", "ls", "gs://uploads/a-rather-long"]) == 0
    assert capsys.readouterr().out == f"{20:>12,d}  {uploaded}\n"
