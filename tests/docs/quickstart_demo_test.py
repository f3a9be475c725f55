"""The README's Quickstart demo, `./dev demo`, run as written in a clone of this
workspace with a second Bazel: it makes the sample audio, normalizes it, fingerprints
it, and shows the results, among them the bad file's dead letter and the re-uploaded
clip found in its track. (`./dev test`, the block's other command, is what CI runs.)"""

import pathlib
import re

import pytest

from tests.docs.nested_workspace import NestedWorkspace, readme_block


@pytest.fixture(scope="module")
def nested(tmp_path_factory):
    workspace = NestedWorkspace(tmp_path_factory.mktemp("quickstart"))
    try:
        yield workspace
    finally:
        workspace.close()


def test_the_quickstart_block_is_the_one_this_test_runs():
    assert readme_block("Quickstart") == ["./dev demo", "./dev test"]


def test_the_demo_shows_its_results(nested):
    out = nested.run("./dev demo 2>&1")
    print(out)
    lines = out.splitlines()
    demo = nested.clone / ".cadenza" / "demo"
    # each job's run: its heading, outcomes and records folder, on lines of their own
    for job, elements in (("normalize", 7), ("fingerprint", 6)):
        assert any(line.startswith(f"{job}: {elements} element(s), run ") for line in lines)
        records = [line.removeprefix("records: ") for line in lines if line.startswith("records: ")]
        assert any(pathlib.Path(r).parent == demo / "runs" / job for r in records), records
    assert re.search(r"processed\s*│\s*6\s*│", out)
    # the file that is not audio: dead-lettered with its reason, the rest goes on
    assert re.search(r"dead letter not_audio\.wav: NormalizeError: cannot normalize", out)
    # the re-upload: the clip is found in the track it was cut from, 30 s in
    clip = next(line for line in lines if "city_blues_redfarn_clip.mp3" in line and "│" in line)
    assert re.search(r"city_blues_redfarn\.flac at \+30\.0 s", clip), clip
    reports = sorted(p.name for p in (demo / "fingerprint").glob("*.json"))
    assert len(reports) == 6, reports
