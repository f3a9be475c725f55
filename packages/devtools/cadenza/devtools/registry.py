"""The DAG registry: every job's config, validated together, as one JSON document.

Built by `//jobs:registry` from the configs the `cadenza_job` macros export; the build
fails, naming the job and the problem, when the configs do not form a valid DAG (a
cycle, a missing upstream, a child reading where its parent does not write).

Configs are read with their `${VAR:-default}` defaults: the registry describes the DAG
as committed, not one machine's environment.
"""

from __future__ import annotations

import argparse
import pathlib
import sys
from collections.abc import Sequence

from cadenza.core import CadenzaError, Dag, load_job_config


def build_registry(config_paths: Sequence[str | pathlib.Path]) -> Dag:
    """The validated DAG of the given job.yaml files (raises ConfigError / DagError)."""
    return Dag.build(load_job_config(path, env={}) for path in config_paths)


def read_registry(path: str | pathlib.Path) -> Dag:
    """The DAG from a registry JSON file written by `//jobs:registry`."""
    return Dag.from_json(pathlib.Path(path).read_text())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Validate the jobs' configs as one DAG.")
    parser.add_argument("--output", required=True, type=pathlib.Path, help="registry JSON")
    parser.add_argument("configs", nargs="+", help="job.yaml files")
    args = parser.parse_args(argv)
    try:
        dag = build_registry(args.configs)
    except CadenzaError as error:
        print(f"cadenza registry: the jobs do not form a valid DAG:\n  {error}", file=sys.stderr)
        return 1
    args.output.write_text(dag.to_json())
    return 0


if __name__ == "__main__":
    sys.exit(main())
