"""Generated `:verify` of every job: `bazel run //jobs/<job>:verify`.

Checks, offline, what can be known before deploying: the config loads with the job's
own params class, the job is in the DAG registry, and the wiring it needs has
deterministic names. Exits non-zero, naming the problem, when a check fails.
"""

from __future__ import annotations

import sys

from rich.console import Console

from cadenza.core import CadenzaError, load_job_config
from cadenza.devtools.registry import read_registry
from cadenza.devtools.wiring_apply import job_plan_table
from tools.deploy.job_args import job_logic, job_parser


def main(argv=None) -> int:
    args = job_parser(__doc__.splitlines()[0]).parse_args(argv)
    console = Console()
    logic = job_logic(args.module)
    try:
        config = load_job_config(
            args.config, env={}, params_class=getattr(logic, "params_class", None)
        )
        dag = read_registry(args.registry)
        if config.job_name not in dag.jobs:
            raise CadenzaError(
                f"{config.job_name!r} is not in the registry: is it in jobs/jobs.bzl?"
            )
    except CadenzaError as error:
        console.print(f"[red]verify:[/red] {error}")
        return 1
    console.print(
        f"[green]ok[/green] {config.job_name}: config, params ({logic.__name__}), registry"
    )
    console.print(job_plan_table(dag, config.job_name))
    return 0


if __name__ == "__main__":
    sys.exit(main())
