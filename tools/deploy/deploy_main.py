"""Generated `:deploy` of every job: `bazel run //jobs/<job>:deploy -- [--profile P] [--dry-run]`.

- `--dry-run`: print the wiring plan the job needs (topics, subscriptions, bucket
  notifications, with deterministic names) and what deploying would start; change nothing.
- `--profile dask --set profiles.dask.scheduler=tcp://HOST:PORT`: run the job's batch
  form on that dask.distributed cluster.
- `--profile local` / `--profile dataflow`: see the job's README and issue #6's notes
  for what is implemented.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.table import Table

from cadenza.core import CadenzaError, load_job_config, plan_wiring
from cadenza.devtools.registry import read_registry
from tools.deploy.job_args import job_logic, job_parser


def plan_table(dag, job_name: str) -> Table:
    """The wiring `job_name` needs: what it reads, what it publishes, bucket notifications."""
    plan = plan_wiring(dag)
    reads = plan.for_job(job_name)
    topics = {s.topic for s in reads} | {f"cadenza-{job_name}-out"}
    topics |= {o.topic for o in dag.jobs[job_name].events.outputs}
    table = Table(title=f"wiring for {job_name}")
    for column in ("kind", "name", "details"):
        table.add_column(column)
    for topic in plan.topics:
        if topic.name in topics:
            table.add_row("topic", topic.name, topic.purpose)
    for sub in reads:
        detail = "external: checked, never created" if sub.external else f"on {sub.topic}"
        table.add_row(
            "subscription", sub.name, detail + (f", prefix {sub.prefix!r}" if sub.prefix else "")
        )
    for note in plan.notifications:
        if note.topic in topics:
            table.add_row(
                "notification",
                f"gs://{note.bucket}",
                f"{','.join(note.event_types)} -> {note.topic}",
            )
    return table


def main(argv=None) -> int:
    parser = job_parser(__doc__.splitlines()[0])
    parser.add_argument("--profile", default="local", help="local (default), dask or dataflow")
    parser.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args, rest = parser.parse_known_args(argv)
    console = Console()
    logic = job_logic(args.module)
    try:
        config = load_job_config(
            args.config,
            env={},
            overrides=args.set,
            params_class=getattr(logic, "params_class", None),
        )
        dag = read_registry(args.registry)
        if args.profile not in config.profiles:
            known = sorted(config.profiles)
            raise CadenzaError(f"{args.config}: no profile {args.profile!r}; profiles: {known}")
    except CadenzaError as error:
        console.print(f"[red]deploy:[/red] {error}")
        return 2
    console.print(plan_table(dag, config.job_name))
    if args.dry_run:
        console.print(f"dry run: nothing created; profile {args.profile!r} would run {args.module}")
        return 0
    if args.profile == "dask":
        module = __import__(args.module, fromlist=["main"])
        overrides = [part for item in args.set for part in ("--set", item)]
        return module.main(["--profile", "dask", *overrides, *rest])
    console.print(
        f"[red]deploy:[/red] --profile {args.profile} is not implemented yet (issue #6): "
        "use --dry-run, or --profile dask"
    )
    return 2


if __name__ == "__main__":
    sys.exit(main())
