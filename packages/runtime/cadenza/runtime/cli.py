"""The command line every job gets: run its batch form with a profile.

    bazel run //jobs/<job> -- [--profile local|dask|dataflow] [--set key.path=value ...]

`${VAR}` in job.yaml come from the environment; `--set` overrides any key. Relative
paths are relative to where the command was started (not Bazel's runfiles).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import sys
from collections.abc import Callable, Sequence

from rich.console import Console

from cadenza.core import CadenzaError, load_job_config
from cadenza.runtime.api import JobLogic
from cadenza.runtime.batch import BatchRun, run_batch
from cadenza.runtime.summary import print_summary


def run_job_cli(
    logic: JobLogic,
    config_path: str | os.PathLike,
    argv: Sequence[str] | None = None,
    after: Callable[[BatchRun, Console], None] | None = None,
) -> int:
    """Parses the command line, loads the config, runs the batch job, prints the summary."""
    config_path = pathlib.Path(config_path).resolve()
    parser = argparse.ArgumentParser(description=f"Run the job in {config_path.parent.name}.")
    parser.add_argument("--profile", default="local", help="a profile of job.yaml (default: local)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override")
    parser.add_argument("--runs", default=".cadenza/runs", help="where run records go")
    args, beam_args = parser.parse_known_args(argv)
    os.chdir(os.environ.get("BUILD_WORKING_DIRECTORY", "."))
    console = Console(stderr=False) if sys.stdout.isatty() else Console(width=120)
    try:
        config = load_job_config(
            config_path,
            env=os.environ,
            overrides=args.set,
            params_class=getattr(logic, "params_class", None),
        )
        run = run_batch(
            config, logic, profile=args.profile, runs_root=args.runs, extra_args=beam_args
        )
    except CadenzaError as err:
        console.print(f"[red]error[/red] {err}")
        return 2
    print_summary(run, console)
    if after:
        after(run, console)
    return 0
