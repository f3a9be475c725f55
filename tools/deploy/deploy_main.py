"""Generated `:deploy` of every job: `bazel run //jobs/<job>:deploy -- [--profile P] [--dry-run]`.

- `--profile local` (the default): start the local stack if it is not running (Pub/Sub
  emulator + fake-gcs-server, state in `.cadenza/stack/`), apply the job's wiring
  (create what is missing, report what exists), and start the job as a background
  streaming process (log: `.cadenza/jobs/<job>/job.log`). Manage it with
  `bazel run //tools:job -- status|stop|logs [JOB]`. `--dry-run`: print the plan only;
  `--restart`: stop (drain) the job if it runs, then start it again.
- `--profile dataflow`: apply the job's wiring on Google Cloud (Pub/Sub topics and
  subscriptions, bucket notifications), then submit the job's batch form to Dataflow
  with its Dataflow image (needs Google credentials; without them it stops before
  creating anything). `--dry-run` submits nothing: it writes the complete Dataflow job
  request to `--output` (default `.cadenza/deploy/<job>/dataflow-request.json`).
- `--profile dask`: run the job's batch form on the dask.distributed cluster its
  config's `dask` profile names (`scheduler`); a job without one gets it with
  `--set 'profiles.dask={runner: dask, scheduler: tcp://HOST:PORT}'`.
- `--set key.path=value` overrides the job's config (and is passed on to the job).
- Flags for the job itself or Beam's pipeline options go after `--`
  (`... :deploy -- --profile dask -- --direct_num_workers=2`); any other unknown
  option is refused, so a mistyped `--dry-run` changes nothing.

The job is checked in the DAG as this deploy reads it (cadenza.devtools.deploy_dag).
"""

from __future__ import annotations

import argparse
import difflib
import os
import pathlib
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from cadenza.core import CadenzaError, load_job_config, plan_wiring
from cadenza.devtools.dataflow_deploy import pipeline_path, submit, write_dataflow_request
from cadenza.devtools.deploy_dag import deploy_dag
from cadenza.devtools.local_deploy import deploy_local
from cadenza.devtools.localstack import working_directory
from cadenza.devtools.wiring_apply import job_plan
from cadenza.devtools.wiring_apply import job_plan_table as plan_table
from tools.deploy.job_args import job_logic, job_parser

PROFILE_HINTS = {
    "dask": "; add one with --set 'profiles.dask={runner: dask, scheduler: tcp://HOST:PORT}'",
    "dataflow": "; add one with --set 'profiles.dataflow={runner: dataflow, project: P, "
    "region: R, temp_location: gs://B/tmp, sdk_base_image: IMAGE@sha256:DIGEST}'",
}


def split_passthrough(argv: Sequence[str]) -> tuple[list[str], list[str]]:
    """(deploy's own arguments, the job's and Beam's flags: everything after `--`)."""
    argv = list(argv)
    if "--" not in argv:
        return argv, []
    at = argv.index("--")
    return argv[:at], argv[at + 1 :]


def unknown_options(parser: argparse.ArgumentParser, unknown: Sequence[str]) -> str:
    """The error for options deploy does not know, with the closest one it does."""
    known = [o for action in parser._actions for o in action.option_strings]
    close = difflib.get_close_matches(unknown[0].split("=", 1)[0], known, n=1, cutoff=0.6)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return (
        f"unknown option {' '.join(unknown)}{hint}; nothing was deployed. Flags for the job "
        "itself or Beam's pipeline options go after `--`, e.g. "
        "`bazel run //jobs/JOB:deploy -- --profile dask -- --direct_num_workers=2`"
    )


def main(argv=None) -> int:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument("--profile", default="local", help="local (default), dask or dataflow")
    parser.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--restart", action="store_true", help="local: stop (drain) the running job first"
    )
    parser.add_argument(
        "--output",
        type=pathlib.Path,
        help="dataflow --dry-run: where the job request goes "
        "(default .cadenza/deploy/<job>/dataflow-request.json)",
    )
    parser.epilog = "Flags for the job or Beam's pipeline options go after `--`."
    parser.allow_abbrev = False  # a deploy takes its options exactly as written
    own, rest = split_passthrough(sys.argv[1:] if argv is None else argv)
    args, unknown = parser.parse_known_args(own)
    console = Console()
    if unknown:
        console.print(f"[red]deploy:[/red] {escape(unknown_options(parser, unknown))}")
        return 2
    logic = job_logic(args.module)
    try:
        config = load_job_config(
            args.config,
            env=os.environ,  # as the job itself will read it
            overrides=args.set,
            params_class=getattr(logic, "params_class", None),
        )
        if args.profile not in config.profiles:
            known = sorted(config.profiles)
            raise CadenzaError(
                f"{args.config}: no profile {args.profile!r}; profiles: {known}"
                + PROFILE_HINTS.get(args.profile, "")
            )
        found = deploy_dag(args.registry, config, env=os.environ, overrides=args.set)
    except CadenzaError as error:
        console.print(f"[red]deploy:[/red] {error}")
        return 2
    dag = found.dag
    for note in found.notes:
        console.print(f"[yellow]note:[/yellow] {note}")
    if args.profile == "local":
        try:
            return deploy_local(
                config,
                dag,
                module=args.module,
                job=args.job,
                overrides=args.set,
                extra_args=rest,
                console=console,
                dry_run=args.dry_run,
                restart=args.restart,
            )
        except CadenzaError as error:
            console.print(f"[red]deploy:[/red] {error}")
            return 2
    console.print(plan_table(dag, config.job_name))
    if args.profile == "dataflow":
        return _dataflow(args, config, dag, logic, rest, console)
    if args.dry_run:
        console.print(f"dry run: nothing created; profile {args.profile!r} would run {args.module}")
        return 0
    if args.profile == "dask":
        module = __import__(args.module, fromlist=["main"])
        overrides = [part for item in args.set for part in ("--set", item)]
        return module.main(["--profile", "dask", *overrides, *rest])
    console.print(f"[red]deploy:[/red] unknown profile {args.profile!r}: local, dask or dataflow")
    return 2


def _dataflow(args, config, dag, logic, rest, console: Console) -> int:
    try:
        if args.dry_run:
            output = args.output or (
                working_directory() / ".cadenza" / "deploy" / args.job / "dataflow-request.json"
            )
            output = working_directory() / output  # relative to where bazel was run
            request = write_dataflow_request(
                config,
                logic(),
                output,
                profile=args.profile,
                extra_args=rest,
                images_dir=working_directory() / ".cadenza" / "images",
            )
            pools = request["environment"].get("workerPools", [])
            images = sorted(
                {c["containerImage"] for p in pools for c in p.get("sdkHarnessContainerImages", [])}
            )
            console.print(
                f"dry run: nothing submitted. The Dataflow job request ({request['type']}, "
                f"job {request['name']!r}, image {', '.join(images)}) is in {output}; the "
                f"job graph Beam built for it in {pipeline_path(output)}"
            )
            return 0
        submit(
            config,
            logic(),
            profile=args.profile,
            extra_args=rest,
            images_dir=working_directory() / ".cadenza" / "images",
            wiring=job_plan(plan_wiring(dag), config),
            console=console,
        )
    except CadenzaError as error:
        console.print(f"[red]deploy:[/red] {error}")
        return 2
    console.print(f"{config.job_name}: the Dataflow job finished")
    return 0


if __name__ == "__main__":
    sys.exit(main())
