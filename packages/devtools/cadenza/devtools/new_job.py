"""`bazel run //tools:new_job -- NAME [--upstream PARENT]`: start a job, completely.

Creates `jobs/<NAME>/` (BUILD.bazel with one `cadenza_job` call, job.yaml, pipeline.py,
a test, README.md) and adds NAME to `jobs/jobs.bzl`, the list the DAG registry is built
from, so a new job is never half-added. With `--upstream`, the job reads its parent's
first data output. Refuses, before writing anything, names that are taken, not
lower_snake_case or whose job name (`-` for `_`) the job config refuses, and a job
that would not fit the DAG with the jobs already there (e.g. a Pub/Sub name clash).
"""

from __future__ import annotations

import argparse
import difflib
import os
import pathlib
import re
import sys
from collections.abc import Sequence

from cadenza.core import CadenzaError, Dag, load_job_config, parse_job_config
from cadenza.core.config import job_name_problem
from cadenza.core.wiring_names import check_wiring_names
from cadenza.devtools.job_names import folder_name

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")

_BUILD = """# {name}: {description}
load("//tools/build_defs:job.bzl", "cadenza_job")

cadenza_job(
    name = "{name}",
    srcs = ["pipeline.py"],
    # its image's third-party layer: exactly what cadenza core and runtime use; a job
    # with more deps needs a layer of its own (third_party/images/BUILD.bazel)
    image_pypi_layer = "{pypi_layer}",
)
"""

#: The shared layer of jobs that import only cadenza.core and cadenza.runtime.
PYPI_LAYER = "//third_party/images:beam_runtime"

_CONFIG = """# {name}: {description}
job_name: {job_name}
version: "1"
description: {description}
{upstream}events:
  inputs:
    - type: listing
      location: {input_location}
{input_suffix}data:
  inputs:
    - name: {input_name}
      location: {input_location}
{input_suffix_data}  outputs:
    - name: result
      location: ${{{env}_OUTPUT:-.cadenza/out/{name}}}
      suffix: .json
dead_letter:
  location: ${{{env}_OUTPUT:-.cadenza/out/{name}}}
profiles:
  local:
    runner: local
"""

_PIPELINE = '''"""{name}: {description}

Run and test it with Bazel:

    bazel run //jobs/{name}
    bazel test //jobs/{name}/...
"""

from __future__ import annotations

import pathlib
import sys

from cadenza.runtime import JobLogic, Result
from cadenza.runtime.cli import run_job_cli

CONFIG = pathlib.Path(__file__).with_name("job.yaml")


class {cls}(JobLogic):
    """One element in, one JSON result out: replace with the job's own work."""

    def process(self, ctx):
        data = ctx.inputs["{input_name}"].read_bytes()
        return Result(outputs={{"result": {{"element": ctx.element, "bytes": len(data)}}}})


def main(argv=None) -> int:
    return run_job_cli({cls}(), CONFIG, argv)


if __name__ == "__main__":
    sys.exit(main())
'''

_TEST = '''"""{name} end to end on a temporary folder, through the runtime on the local runner."""

import json

from jobs.{name} import pipeline


def test_job_writes_one_result_per_input(tmp_path, monkeypatch):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "a{suffix}").write_bytes(b"12345")
    monkeypatch.setenv("{input_env}", str(tmp_path / "in"))
    monkeypatch.setenv("{env}_OUTPUT", str(tmp_path / "out"))
    assert pipeline.main(["--runs", str(tmp_path / "runs")]) == 0
    result = json.loads((tmp_path / "out" / "a.json").read_text())
    assert result == {{"element": "a", "bytes": 5}}
'''


_README = """# {name}

{title}.

    {variables}{env}_OUTPUT=OUT bazel run //jobs/{name}    # a batch run over IN's files
    bazel test //jobs/{name}/...                              # its tests, lint, config check
    bazel run //jobs/{name}:deploy -- --dry-run               # what deploying it would do

Relative folders are taken from where you run bazel. Its logic is in pipeline.py; its
inputs, outputs and profiles in job.yaml.
"""


def create_job(root: pathlib.Path, name: str, upstream: str | None = None) -> list[pathlib.Path]:
    """Writes the job's files under `root`/jobs/`name` and lists it in jobs.bzl."""
    if not _NAME.match(name):
        raise ValueError(f"job name {name!r}: use lower_snake_case (letters, digits, _)")
    problem = job_name_problem(name.replace("_", "-"))
    if problem:
        raise ValueError(f"job name {name!r}: its job_name {name.replace('_', '-')!r}: {problem}")
    jobs = root / "jobs"
    listing = jobs / "jobs.bzl"
    if not listing.is_file():
        raise ValueError(
            f"{root.resolve()} is not the repository's root (it has no jobs/jobs.bzl): "
            "use bazel run //tools:new_job -- NAME, or run this from the root"
        )
    text = listing.read_text()
    names = re.findall(r'^\s+"([a-z0-9_]+)",$', text, flags=re.M)
    folder = jobs / name
    if name in names or folder.exists():
        raise ValueError(f"jobs/{name} already exists (or is listed in jobs/jobs.bzl)")
    env = name.upper()
    description = f"the {name} job (describe what it does)"
    fields = dict(name=name, job_name=name.replace("_", "-"), description=description, env=env)
    if upstream:
        upstream = folder_name(upstream)  # the parent's job_name works too
        parent_dir = jobs / upstream
        if not (parent_dir / "job.yaml").exists():
            close = difflib.get_close_matches(upstream, names, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"--upstream {upstream}: no jobs/{upstream}/job.yaml{hint}")
        parent = load_job_config(parent_dir / "job.yaml")
        if not parent.data.outputs:
            raise ValueError(f"--upstream {upstream}: it declares no data outputs to read")
        out = parent.data.outputs[0]
        location, suffix = out.location, out.suffix
        input_env = re.match(r"\$\{(\w+)", location).group(1) if location.startswith("${") else ""
        fields.update(
            upstream=f"upstream: [{parent.job_name}]\n",
            input_name=out.name,
            input_location=location,
            input_suffix=f"      suffix: {suffix}\n" if suffix else "",
            input_suffix_data=f"      suffix: {suffix}\n" if suffix else "",
        )
    else:
        input_env = f"{env}_INPUT"
        location, suffix = f"${{{env}_INPUT:-.cadenza/in/{name}}}", ""
        fields.update(
            upstream="",
            input_name="input",
            input_location=location,
            input_suffix="",
            input_suffix_data="",
        )
    cls = "".join(part.title() for part in name.split("_"))
    config = _CONFIG.format(**fields)
    _check_fits(jobs, names, config, f"jobs/{name}/job.yaml")
    folder.mkdir()
    files = {
        "BUILD.bazel": _BUILD.format(pypi_layer=PYPI_LAYER, **fields),
        "job.yaml": config,
        "pipeline.py": _PIPELINE.format(cls=cls, **fields),
        "pipeline_test.py": _TEST.format(suffix=suffix, input_env=input_env or "UNSET", **fields),
        "README.md": _README.format(
            title=f"{description[0].upper()}{description[1:]}",
            variables=f"{input_env}=IN " if input_env else "",
            **fields,
        ),
    }
    written = []
    for file_name, content in files.items():
        path = folder / file_name
        path.write_text(content)
        written.append(path)
    new_names = sorted([*names, name])
    body = "".join(f'    "{n}",\n' for n in new_names)
    listing.write_text(
        re.sub(r"JOBS = \[\n(?:\s+\"[a-z0-9_]+\",\n)*\]", f"JOBS = [\n{body}]", text)
    )
    return [*written, listing]


def _check_fits(jobs: pathlib.Path, names: list[str], config: str, source: str) -> None:
    """Raises ValueError unless the new config joins the listed jobs as a valid DAG."""
    try:
        new = parse_job_config(config, source=source, env={})
        existing = [
            load_job_config(jobs / n / "job.yaml", env={})
            for n in names
            if (jobs / n / "job.yaml").exists()
        ]
        check_wiring_names(Dag.build([*existing, new]))
    except CadenzaError as error:
        raise ValueError(f"the new job would break the DAG registry:\n  {error}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="new_job", description=__doc__.splitlines()[0])
    parser.add_argument("name", help="the job's folder name (lower_snake_case)")
    parser.add_argument("--upstream", help="the parent job's folder name (or job_name)")
    args = parser.parse_args(argv)
    root = pathlib.Path(os.environ.get("BUILD_WORKSPACE_DIRECTORY", "."))
    try:
        written = create_job(root, args.name, args.upstream)
    except (ValueError, OSError) as error:
        print(f"new_job: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(f"wrote {path.relative_to(root)}")
    print(f"next: edit jobs/{args.name}/pipeline.py, then `bazel test //jobs/{args.name}/...`")
    return 0


if __name__ == "__main__":
    sys.exit(main())
