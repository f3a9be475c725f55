"""The DAG registry: every job's config, validated together, as one JSON document.

Built by `//jobs:registry` from the configs the `cadenza_job` macros export; the build
fails, naming the job and the problem, when the configs do not form a valid DAG (a
cycle, a missing upstream, a child reading where its parent does not write, two things
given one Pub/Sub name).

Configs are read with their `${VAR:-default}` defaults: the registry describes the DAG
as committed, not one machine's environment. It also keeps each job.yaml's text
(`templates`, by job name), so a deploy can read every job with its own environment
(cadenza.devtools.deploy_dag).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import re
import sys
from collections.abc import Sequence

from cadenza.core import CadenzaError, Dag, DagError, load_job_config
from cadenza.core.wiring_names import check_wiring_names


def build_registry(config_paths: Sequence[str | pathlib.Path]) -> Dag:
    """The validated DAG of the given job.yaml files (raises ConfigError / DagError)."""
    configs = [load_job_config(path, env={}) for path in config_paths]
    files: dict[str, list[str]] = {}
    for path, config in zip(config_paths, configs, strict=True):
        files.setdefault(config.job_name, []).append(str(path))
    shared = [
        f"job_name {name!r} is in {' and '.join(f)}" for name, f in files.items() if len(f) > 1
    ]
    if shared:
        raise DagError("; ".join(shared) + ": each job needs a name of its own")
    try:
        dag = Dag.build(configs)
        check_wiring_names(dag)
    except DagError as error:
        raise DagError(_with_files(str(error), {n: f[0] for n, f in files.items()})) from None
    return dag


def _with_files(problems: str, files: dict[str, str]) -> str:
    """`problems` (one a line) with the job.yaml of every job each line names, in order:
    `cycle in the DAG: a -> b -> a (a in jobs/a/job.yaml, b in jobs/b/job.yaml)`."""
    lines = []
    for line in problems.splitlines():
        found = {}
        for name, path in files.items():
            match = re.search(rf"(?<![\w/.-]){re.escape(name)}(?![\w/-])", line)
            if match:
                found[match.start()] = f"{name} in {path}"
        where = ", ".join(found[start] for start in sorted(found))
        lines.append(f"{line} ({where})" if where else line)
    return "\n".join(lines)


def registry_json(config_paths: Sequence[str | pathlib.Path]) -> str:
    """The registry document of the given job.yaml files, their templates included."""
    dag = build_registry(config_paths)
    document = json.loads(dag.to_json())
    document["templates"] = {
        load_job_config(path, env={}).job_name: pathlib.Path(path).read_text()
        for path in config_paths
    }
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def read_registry(path: str | pathlib.Path) -> Dag:
    """The DAG from a registry JSON file written by `//jobs:registry`; a damaged file is a
    DagError naming it."""
    try:
        return Dag.from_json(pathlib.Path(path).read_text())
    except DagError as err:
        raise DagError(f"{path}: {err}") from None


def read_templates(path: str | pathlib.Path) -> dict[str, str]:
    """Each job's job.yaml text, by job name, from a registry file ({} if it has none)."""
    return json.loads(pathlib.Path(path).read_text()).get("templates", {})


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Validate the jobs' configs as one DAG.")
    parser.add_argument("--output", required=True, type=pathlib.Path, help="registry JSON")
    parser.add_argument("configs", nargs="+", help="job.yaml files")
    args = parser.parse_args(argv)
    try:
        document = registry_json(args.configs)
    except CadenzaError as error:
        problems = "\n  ".join(str(error).splitlines())
        print(f"cadenza registry: the jobs do not form a valid DAG:\n  {problems}", file=sys.stderr)
        return 1
    args.output.write_text(document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
