"""new_job: a new job is complete (files, jobs.bzl) and works; bad names are refused."""

import ast
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

from cadenza.devtools.new_job import PYPI_LAYER, create_job
from cadenza.devtools.registry import build_registry
from cadenza_fixtures import python_command, runfiles_root, subprocess_env


@pytest.fixture
def root(tmp_path):
    source = runfiles_root() / "jobs"
    (tmp_path / "jobs" / "normalize").mkdir(parents=True)
    shutil.copy(source / "jobs.bzl", tmp_path / "jobs" / "jobs.bzl")
    shutil.copy(source / "normalize" / "job.yaml", tmp_path / "jobs" / "normalize" / "job.yaml")
    return tmp_path


def run_generated_test(root: pathlib.Path, name: str):
    env = subprocess_env()
    env["PYTHONPATH"] = os.pathsep.join([str(root), env["PYTHONPATH"]])
    return subprocess.run(
        [*python_command(), "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "--import-mode=importlib", "-o", "python_files=*_test.py",
         str(root / "jobs" / name / "pipeline_test.py")],
        capture_output=True, text=True, env=env, cwd=root, timeout=300,
    )  # fmt: skip


def test_a_child_job_is_listed_valid_in_the_dag_and_its_test_passes(root):
    written = create_job(root, "loudness_report", upstream="normalize")
    names = {p.name for p in written}
    assert names == {
        "BUILD.bazel",
        "job.yaml",
        "pipeline.py",
        "pipeline_test.py",
        "README.md",
        "jobs.bzl",
    }
    listing = (root / "jobs" / "jobs.bzl").read_text()
    assert '    "loudness_report",\n    "normalize",' in listing
    assert (
        'name = "loudness_report"'
        in (root / "jobs" / "loudness_report" / "BUILD.bazel").read_text()
    )
    readme = (root / "jobs" / "loudness_report" / "README.md").read_text()
    assert (
        "NORMALIZE_OUTPUT=IN LOUDNESS_REPORT_OUTPUT=OUT bazel run //jobs/loudness_report" in readme
    )
    dag = build_registry([root / "jobs" / n / "job.yaml" for n in ("normalize", "loudness_report")])
    assert dag.children("normalize") == ("loudness-report",)
    result = run_generated_test(root, "loudness_report")
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_root_job_works_too(root):
    create_job(root, "ingest")
    result = run_generated_test(root, "ingest")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("name", "upstream", "problem"),
    [
        ("Bad-Name", None, "use lower_snake_case"),
        ("normalize", None, "already exists"),
        ("child", "nowhere", "no jobs/nowhere/job.yaml"),
        ("child", "normalise", "no jobs/normalise/job.yaml; did you mean 'normalize'?"),
        ("ab", None, "job_name 'ab': expected 3-63 characters"),
        ("x_", None, "job_name 'x-': expected 3-63 characters"),
    ],
)
def test_bad_requests_are_refused_and_change_nothing(root, name, upstream, problem):
    before = (root / "jobs" / "jobs.bzl").read_text()
    with pytest.raises(ValueError, match=problem):
        create_job(root, name, upstream)
    assert (root / "jobs" / "jobs.bzl").read_text() == before
    assert name == "normalize" or not (root / "jobs" / name).exists()


def test_outside_the_repository_root_it_says_where_to_run_it(tmp_path):
    with pytest.raises(
        ValueError, match=r"is not the repository's root \(it has no jobs/jobs\.bzl\)"
    ):
        create_job(tmp_path, "loudness")
    assert not (tmp_path / "jobs").exists()


def test_a_job_that_would_break_the_registry_is_refused(root):
    listing = root / "jobs" / "jobs.bzl"
    listing.write_text(
        listing.read_text().replace('    "normalize",', '    "ingest",\n    "normalize",')
    )
    (root / "jobs" / "ingest").mkdir()
    (root / "jobs" / "ingest" / "job.yaml").write_text(
        "job_name: ingest\nevents: {inputs: [{type: gcs_notification, bucket: photos-out}]}\n"
    )
    before = listing.read_text()
    with pytest.raises(ValueError, match="would break the DAG registry") as err:
        create_job(root, "uploads_photos")
    assert "'cadenza-uploads-photos-out' would be both" in str(err.value)
    assert listing.read_text() == before and not (root / "jobs" / "uploads_photos").exists()


def external_root() -> pathlib.Path:
    """Where Bazel's external repositories are (@pypi, @buildifier): the runfiles under
    Bazel, else Bazel's output base; found from @pypi's site folder on sys.path."""
    for entry in sys.path:
        site = pathlib.Path(entry)
        if entry and site.name == "site" and (site / "bin" / "ruff").is_file():
            return site.parents[1]
    raise AssertionError(f"no @pypi site folder with bin/ruff on sys.path: {sys.path}")


def lint(folder: pathlib.Path) -> list[str]:
    """What the job's own :lint_test finds in `folder` (tools/lint/lint.py's commands,
    with the locked ruff and buildifier and the repository's ruff.toml)."""
    ruff = external_root() / "pypi" / "site" / "bin" / "ruff"
    buildifier = external_root() / "buildifier" / "bin" / "buildifier"
    config = runfiles_root() / "ruff.toml"
    python = sorted(str(p) for p in folder.glob("*.py"))
    commands = [
        [ruff, "check", "--no-cache", "--config", config, *python],
        [ruff, "format", "--no-cache", "--check", "--diff", "--config", config, *python],
        [buildifier, "-mode=check", "-lint=warn", "-warnings=-native-py", folder / "BUILD.bazel"],
    ]
    found = []
    for command in commands:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            found.append(f"{command[1]}: {result.stdout}{result.stderr}")
    return found


@pytest.mark.parametrize("upstream", [None, "normalize"])
def test_the_generated_files_pass_the_jobs_lint_test(root, upstream):
    create_job(root, "ingest", upstream=upstream)
    problems = lint(root / "jobs" / "ingest")
    assert not problems, "\n".join(problems)


def _calls(path: pathlib.Path, function: str) -> list[dict]:
    """The keyword arguments of every `function(...)` call in a BUILD file."""
    calls = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == function:
            calls.append({k.arg: ast.literal_eval(k.value) for k in node.keywords})
    return calls


def test_the_generated_image_gets_a_layer_of_exactly_its_distributions(root):
    """tools/image/image.bzl fails a job's :image unless its pypi_layer's deps bring
    exactly the job's @pypi files: the generated job's :lib depends on cadenza_job's
    core and runtime only, so its layer must depend on exactly those."""
    create_job(root, "ingest")
    (job,) = _calls(root / "jobs" / "ingest" / "BUILD.bazel", "cadenza_job")
    macro = (runfiles_root() / "tools" / "build_defs" / "job.bzl").read_text()
    runtime = ast.literal_eval(re.search(r"^_RUNTIME = (\[.*?\])$", macro, re.M).group(1))
    default = re.search(r'image_pypi_layer = "([^"]+)"\)', macro).group(1)
    assert job.get("image_pypi_layer", default) == PYPI_LAYER
    package, name = PYPI_LAYER.removeprefix("//").split(":")
    layers = {c["name"]: c for c in _calls(runfiles_root() / package / "BUILD.bazel", "pypi_layer")}
    assert sorted(layers[name]["deps"]) == sorted([*runtime, *job.get("deps", [])])
