"""The README's "Writing a job" commands, run as written, in a clone of this workspace by a
second Bazel: scaffold a job under normalize, test it, run it over normalize's output,
find it in the DAG, dry-run its deploy.

Placeholders in the commands (NORM, OUT) become this test's folders; NORM holds two FLAC
files, as normalize writes them."""

import json
import pathlib
import re

import numpy as np
import pytest
import soundfile

from tests.docs.nested_workspace import NestedWorkspace, readme_block


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    scratch = tmp_path_factory.mktemp("writing-a-job")
    folders = {"NORM": scratch / "normalized", "OUT": scratch / "loudness"}
    folders["NORM"].mkdir()
    tone = np.arange(16_000) / 16_000
    for name, hz in (("track-1", 440), ("track-2", 880)):
        samples = 0.4 * np.sin(2 * np.pi * hz * tone)
        soundfile.write(folders["NORM"] / f"{name}.flac", samples, 16_000)
    workspace = NestedWorkspace(scratch, folders)
    try:
        yield workspace, folders
    finally:
        workspace.close()


def check_scaffold(clone: pathlib.Path, folders: dict, out: str) -> None:
    job = clone / "jobs" / "loudness"
    assert sorted(p.name for p in job.iterdir()) == [
        "BUILD.bazel",
        "README.md",
        "job.yaml",
        "pipeline.py",
        "pipeline_test.py",
    ]
    assert '"loudness"' in (clone / "jobs" / "jobs.bzl").read_text()


def check_test(clone: pathlib.Path, folders: dict, out: str) -> None:
    reports = (clone / "bazel-testlogs" / "jobs" / "loudness").rglob("test.xml")
    assert any('failures="0"' in report.read_text() for report in reports)


def check_batch_run(clone: pathlib.Path, folders: dict, out: str) -> None:
    for name in ("track-1", "track-2"):
        result = json.loads((folders["OUT"] / f"{name}.json").read_text())
        stored = (folders["NORM"] / f"{name}.flac").stat().st_size
        assert result == {"element": name, "bytes": stored}


def check_graph(clone: pathlib.Path, folders: dict, out: str) -> None:
    assert "loudness" in out and "normalize" in out


def check_deploy(clone: pathlib.Path, folders: dict, out: str) -> None:
    # the wiring deploying it would create: its inbox, and its edge from normalize
    assert "cadenza-loudness-in" in out and "cadenza-loudness-from-normalize" in out, out


EXPECTED = [  # each command of the block, in order, and what it must have done
    ("bazel run //tools:new_job -- loudness --upstream normalize", check_scaffold),
    ("bazel test //jobs/loudness/...", check_test),
    ("NORMALIZE_OUTPUT=NORM LOUDNESS_OUTPUT=OUT bazel run //jobs/loudness", check_batch_run),
    ("bazel run //tools:dag_graph -- --job loudness", check_graph),
    ("bazel run //jobs/loudness:deploy -- --dry-run", check_deploy),
]


def test_the_readme_block_is_the_one_this_test_runs():
    assert readme_block("Writing a job") == [command for command, _ in EXPECTED]


def test_the_commands_work_as_the_readme_says(workspace):
    nested, folders = workspace
    for command, check in EXPECTED:
        check(nested.clone, folders, nested.run(command))


def test_a_job_that_needs_more_needs_the_layer_of_its_set(workspace):
    """The README: a job importing more than cadenza core and runtime needs the layer
    holding exactly its third-party set, `beam_librosa`; `bazel test` names what differs."""
    nested, _ = workspace
    build = nested.clone / "jobs" / "loudness" / "BUILD.bazel"
    scaffold = build.read_text()
    runtime_layer = '    image_pypi_layer = "//third_party/images:beam_runtime",\n'
    assert runtime_layer in scaffold
    audio = runtime_layer + '    deps = ["//packages/audio"],\n'  # where buildifier wants it
    build.write_text(scaffold.replace(runtime_layer, audio))
    said = nested.fails("bazel test //jobs/loudness/...")
    assert 'job "loudness" needs a different set of third-party distributions' in said, said
    needed = said.split("needed but not in the layer: ", 1)[1].split("\n", 1)[0]
    assert re.search(r"\blibrosa \d", needed) and re.search(r"\bsoundfile \d", needed), said
    assert "in the layer but not needed: -" in said, said
    build.write_text(scaffold.replace(runtime_layer, audio.replace("beam_runtime", "beam_librosa")))
    nested.run("bazel test //jobs/loudness/...")
