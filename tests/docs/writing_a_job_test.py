"""The README's "Writing a job" commands, run as written, in a clone of this workspace by a
second Bazel: scaffold a job under normalize, test it, run it over normalize's output,
find it in the DAG, dry-run its deploy.

The second Bazel has its own output root and reuses the first build's fetched @pypi and
@buildifier through --override_repository (no network; user.bazelrc in the clone, which
the workspace's .bazelrc imports). Placeholders in the commands (NORM, OUT) become this
test's folders; NORM holds two FLAC files, as normalize writes them."""

import json
import os
import pathlib
import re
import shutil
import subprocess

import numpy as np
import pytest
import soundfile
from tests.images.nested_build import clone_with_working_tree, fetched_pypi, source_workspace

from cadenza_fixtures import runfiles_root


def readme_commands() -> list[str]:
    """The commands of the sh block under "## Writing a job", without their comments."""
    text = (source_workspace() / "README.md").read_text()
    section = text.split("\n## Writing a job\n", 1)[1].split("\n## ", 1)[0]
    block = section.split("```sh\n", 1)[1].split("```", 1)[0]
    lines = (line.split(" #", 1)[0].strip() for line in block.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def fetched_buildifier() -> pathlib.Path:
    """The first build's @buildifier (its runfile links to <repository>/bin/buildifier)."""
    link = runfiles_root().parent / "buildifier" / "bin" / "buildifier"
    return pathlib.Path(os.readlink(link)).parents[1]


def bases_root() -> pathlib.Path:
    index = runfiles_root().parent / "image_bases" / "bases" / "python" / "index.json"
    return index.resolve().parents[1]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    """A clone of this workspace, its own Bazel output root, and the folders the
    commands' placeholders stand for."""
    scratch = tmp_path_factory.mktemp("writing-a-job")
    clone = scratch / "clone"
    clone_with_working_tree(source_workspace(), clone)
    (clone / "user.bazelrc").write_text(
        f"startup --output_user_root={scratch / 'bazel-root'}\n"
        f"common --override_repository=pypi={fetched_pypi()}\n"
        f"common --override_repository=buildifier={fetched_buildifier()}\n"
        "common --noshow_progress\n"
    )
    folders = {"NORM": scratch / "normalized", "OUT": scratch / "loudness"}
    folders["NORM"].mkdir()
    tone = np.arange(16_000) / 16_000
    for name, hz in (("track-1", 440), ("track-2", 880)):
        soundfile.write(
            folders["NORM"] / f"{name}.flac", 0.4 * np.sin(2 * np.pi * hz * tone), 16_000
        )
    yield clone, folders
    env = environment(scratch)
    subprocess.run(["bazel", "shutdown"], cwd=clone, env=env, capture_output=True, timeout=120)
    subprocess.run(["chmod", "-R", "u+w", str(scratch)], check=False)
    shutil.rmtree(scratch, ignore_errors=True)


def environment(scratch: pathlib.Path) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(scratch / "home"),
        "CADENZA_IMAGE_BASES": str(bases_root()),
        "LANG": "C.UTF-8",
    }


def run(command: str, clone: pathlib.Path, folders: dict) -> str:
    for placeholder, folder in folders.items():
        command = re.sub(rf"\b{placeholder}\b", str(folder), command)
    result = subprocess.run(
        ["bash", "-c", command],
        cwd=clone,
        env=environment(clone.parent),
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert result.returncode == 0, (
        f"{command}\nfailed ({result.returncode}):\n{result.stderr[-4000:]}"
    )
    return result.stdout


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
    assert "loudness" in out


EXPECTED = [  # each command of the block, in order, and what it must have done
    ("bazel run //tools:new_job -- loudness --upstream normalize", check_scaffold),
    ("bazel test //jobs/loudness/...", check_test),
    ("NORMALIZE_OUTPUT=NORM LOUDNESS_OUTPUT=OUT bazel run //jobs/loudness", check_batch_run),
    ("bazel run //tools:dag_graph -- --job loudness", check_graph),
    ("bazel run //jobs/loudness:deploy -- --dry-run", check_deploy),
]


def test_the_readme_block_is_the_one_this_test_runs():
    assert readme_commands() == [command for command, _ in EXPECTED]


def test_the_commands_work_as_the_readme_says(workspace):
    clone, folders = workspace
    for command, check in EXPECTED:
        check(clone, folders, run(command, clone, folders))
