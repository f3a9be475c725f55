"""The README's "The DAG on the local stack" commands, run as written, in a clone of this
workspace by a second Bazel: deploy normalize, fingerprint and features on a local
stack of their own, upload a song, list normalize's outputs, show the jobs' status and
an output's provenance, list the dead letters and print one; then the messages of the
second block: a ping, a forced redo, and a bottom-up message for a file uploaded
outside incoming/ (fingerprint asks normalize for its input; features stays out).

Between the README's lines the test waits for the jobs' work (a listing is repeated
until it shows the file), and before them it writes song.mp3 (a generated melody) and
uploads one file that is not audio, so that there is a dead letter to list and print
(KEY is its name). Afterwards it stops the jobs and the stack."""

import io
import json
import re
import time

import pytest
import soundfile

from cadenza.audio.fingerprint.synthetic import SAMPLE_RATE, melody
from tests.docs.nested_workspace import NestedWorkspace, readme_block

JOBS = ("normalize", "fingerprint", "features")
UPLOAD = "bazel run //tools:job -- upload song.mp3 --to gs://cadenza-uploads/incoming/"
DEAD_LETTERS = "bazel run //tools:job -- ls gs://cadenza-data/normalize/dead_letter/"


@pytest.fixture(scope="module")
def nested(tmp_path_factory):
    workspace = NestedWorkspace(tmp_path_factory.mktemp("dag-on-the-local-stack"))
    song = io.BytesIO()
    soundfile.write(song, melody(seconds=20, seed=7), SAMPLE_RATE, format="MP3")
    (workspace.clone / "song.mp3").write_bytes(song.getvalue())
    (workspace.clone / "notes.mp3").write_text("not audio, whatever its name says\n")
    old = io.BytesIO()
    soundfile.write(old, melody(seconds=20, seed=11), SAMPLE_RATE, format="MP3")
    (workspace.clone / "old.mp3").write_bytes(old.getvalue())
    try:
        yield workspace
    finally:
        workspace.cleanup("bazel run //tools:job -- stop --all")
        workspace.cleanup("bazel run //tools:job -- stack stop")
        workspace.close()


def check_deployed(nested, out: str) -> None:
    assert "is streaming in the background (pid" in out, out


def check_uploaded(nested, out: str) -> None:
    nested.run(UPLOAD.replace("song.mp3", "notes.mp3"))  # a dead letter for the last lines


def wait_for_output(nested, command: str) -> str:
    return nested.run_until(command, lambda out: "incoming/song.mp3.flac" in out)


def check_listing(nested, out: str) -> None:
    """One object a line, size then address, whatever the width: scripts read it."""
    lines = out.splitlines()
    assert lines and all(re.fullmatch(r" *[0-9,]+  gs://\S+", line) for line in lines), out


def check_status(nested, out: str) -> None:
    for job in JOBS:
        row = next(line for line in out.splitlines() if line.startswith(f"│ {job} "))
        assert "│ running │" in row, out


def check_provenance(nested, out: str) -> None:
    record = json.loads(out.split("\n", 1)[1])
    assert record["job"] == "normalize" and record["element"] == "incoming/song.mp3", out
    assert record["inputs"]["audio"].startswith("sha256:"), out


def wait_for_dead_letter(nested, command: str) -> str:
    out = nested.run_until(command, lambda out: ".json" in out)
    key = next(word for word in out.split() if word.endswith(".json"))
    nested.placeholders["KEY"] = key.rsplit("/", 1)[-1].removesuffix(".json")
    return out


def check_dead_letter(nested, out: str) -> None:
    record = json.loads(out)
    assert record["element"] == "incoming/notes.mp3", record
    assert record["reason"], record


# each command of the block, in order: how it is run (None: as it is; or a function
# of the workspace and the command, which waits for the jobs) and what it must show
EXPECTED = [
    (
        "export NORMALIZE_INPUT=gs://cadenza-uploads NORMALIZE_OUTPUT=gs://cadenza-data/normalize",
        None,
        None,
    ),
    ("bazel run //jobs/normalize:deploy", None, check_deployed),
    ("bazel run //jobs/fingerprint:deploy", None, check_deployed),
    ("bazel run //jobs/features:deploy", None, check_deployed),
    (UPLOAD, None, check_uploaded),
    ("bazel run //tools:job -- ls gs://cadenza-data/normalize/", wait_for_output, check_listing),
    ("bazel run //tools:job -- status", None, check_status),
    (
        "bazel run //tools:job -- provenance gs://cadenza-data/normalize/incoming/song.mp3.flac",
        None,
        check_provenance,
    ),
    (DEAD_LETTERS, wait_for_dead_letter, check_listing),
    (
        "bazel run //tools:job -- cat gs://cadenza-data/normalize/dead_letter/KEY.json",
        None,
        check_dead_letter,
    ),
]


SEND = "bazel run //tools:job -- send"
MESSAGES = [  # the second block: what each message must do
    f"{SEND} normalize incoming/song.mp3 --ping",
    f"{SEND} fingerprint incoming/song.mp3 --force",
    "bazel run //tools:job -- upload old.mp3 --to gs://cadenza-uploads/elsewhere/",
    f"{SEND} fingerprint elsewhere/old.mp3 --bottom-up",
]


def test_the_readme_blocks_are_the_ones_this_test_runs():
    assert readme_block("The DAG on the local stack") == [command for command, *_ in EXPECTED]
    assert readme_block("The DAG on the local stack", 2) == MESSAGES


def test_the_commands_work_as_the_readme_says(nested):
    for command, how, check in EXPECTED:
        out = how(nested, command) if how else nested.run(command)
        print(f"$ {command}\n{out}")
        if check:
            check(nested, out)
    # normalize's output event started its children, which write to their local folders
    out = nested.clone / ".cadenza" / "out"
    for child in ("fingerprint", "features"):
        folder = out / child / "incoming"
        wait_until(lambda folder=folder: list(folder.glob("song.mp3.*")), f"{child}'s output")
    report = out / "fingerprint" / "incoming" / "song.mp3.json"
    wait_until(report.exists, "fingerprint's report")
    first = written(report)

    ping, force, upload, bottom_up = MESSAGES
    nested.run(ping)
    nested.run(force)  # fingerprint redoes the song although its report exists
    wait_until(lambda: written(report) != first, "the report written again")
    nested.run(upload)  # outside incoming/: normalize's upload subscription leaves it
    nested.run(bottom_up)
    old = out / "fingerprint" / "elsewhere"
    wait_until(lambda: list(old.glob("old.mp3.*")), "fingerprint's output of elsewhere/old.mp3")
    normalized = "bazel run //tools:job -- ls gs://cadenza-data/normalize/elsewhere/"
    assert "elsewhere/old.mp3.flac" in nested.run(normalized)  # normalize was asked for it
    time.sleep(3)  # features heard normalize's event too, and is not a recipient
    assert not (out / "features" / "elsewhere").exists()


def written(path) -> tuple[int, int]:
    """Which write of `path` is there: outputs are replaced by a new file, never edited."""
    stat = path.stat()
    return stat.st_ino, stat.st_mtime_ns


def wait_until(done, what: str, timeout: float = 240) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, f"no {what} after {timeout} s"
        time.sleep(1)
