"""`deploy --profile local`: the local stack, the job's wiring, the job in the background.

    code = deploy_local(config, dag, module="jobs.normalize.pipeline", job="normalize",
                        overrides=["params.x=1"], console=Console())

1. the local stack (localstack.py): reused when it runs, else started detached; a new
   stack has an empty Pub/Sub emulator, so the wiring is applied on every deploy;
2. the job's part of the wiring plan, fitted to the local stack (wiring_apply.py),
   applied: missing topics, subscriptions and buckets created, existing ones reported;
3. the job started as a background streaming process (localjobs.py, `--stream`: its
   upload or Pub/Sub inputs and its parents' output events) with the stack's
   environment; its log in `.cadenza/jobs/<job>/job.log`.

Before any of that (and in a dry run too), the job's command line is checked as the
job checks it (`check_job_flags`): a flag that is neither the job's nor Beam's is
refused with the job's own error, before a running job is stopped or the stack started.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shlex
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from cadenza.core import ConfigError, JobConfig, plan_wiring
from cadenza.core.dag import Dag
from cadenza.core.event_kinds import can_stream
from cadenza.devtools.emulators import EmulatorError, apply_env, restore_env
from cadenza.devtools.job_names import folder_name
from cadenza.devtools.localjobs import JobError, LocalJobs
from cadenza.devtools.localstack import LocalStack, working_directory
from cadenza.devtools.wiring_apply import (
    ACK_DEADLINE_S,
    apply_plan,
    ensure_local_buckets,
    job_plan,
    local_plan,
    plan_rows,
    problems,
    wiring_table,
)
from cadenza.runtime.cli import job_parser as runtime_job_parser
from cadenza.runtime.profiles import check_flags, streaming_profile_args

JOB_TOOL = "bazel run //tools:job --"
PROFILE = "local"


class _Refused(Exception):
    """argparse's error, raised instead of printing the usage and exiting."""


def job_parser() -> argparse.ArgumentParser:
    """The job's own options (`cadenza.runtime.cli.job_parser`, the command line
    `LocalJobs.start` runs), with -h/--help noted rather than printed."""
    parser = runtime_job_parser(add_help=False)
    parser.add_argument("-h", "--help", action="store_true")
    return parser


def check_job_flags(config: JobConfig, args: Sequence[str]) -> None:
    """Refuses (ConfigError, with the job's own message) the command line `args` (after
    `--profile local`) that the job would refuse when it starts: an option that is
    neither the job's nor one of Beam's, a value either cannot parse, and the local
    profile's own Beam options when the job streams."""
    parser = job_parser()

    def refuse(message: str):
        raise _Refused(message)

    parser.error = refuse
    try:
        known, beam_args = parser.parse_known_args(["--profile", PROFILE, *args])
    except _Refused as err:
        raise ConfigError(f"{config.job_name}: the command line: {err}") from None
    if known.help:
        raise ConfigError(
            f"{config.job_name}: the command line: --help prints the job's help and exits "
            "(see it with `bazel run //jobs/<job> -- --help`)"
        )
    own = [flag for action in parser._actions for flag in action.option_strings]
    check_flags(config, known.profile, "the command line", beam_args, own_flags=own)
    if can_stream(config):
        where = f"profiles.{known.profile}.options"
        check_flags(config, known.profile, where, streaming_profile_args(config, known.profile))


def resolved(location: str, base: pathlib.Path) -> str:
    """A data location as the job resolves it: local ones absolute, from `base`."""
    if "://" in location:
        return location.rstrip("/")
    return os.path.normpath(base / location)


def unread_parent_outputs(config: JobConfig, jobs: LocalJobs, base: pathlib.Path) -> list[str]:
    """A warning for each parent deployed here whose data outputs this job does not
    read (another shell's environment variables, say): each of its events would be
    dead-lettered here as a missing input."""
    inputs = sorted({resolved(loc.location, base) for loc in config.data.inputs})
    warnings = []
    for parent in config.upstream:
        state = jobs.state(folder_name(parent))
        if state is None or not state.running or not state.outputs or not inputs:
            continue
        if set(inputs) & set(state.outputs):
            continue
        warnings.append(
            f"{config.job_name} reads its data inputs from {', '.join(inputs)}, but the "
            f"deployed {parent} writes to {', '.join(sorted(set(state.outputs)))}: each of "
            "its events "
            "would be dead-lettered here (data input missing). Give both jobs the same "
            "location (the variables their job.yaml files name) and deploy again"
        )
    return warnings


def with_config(dag: Dag, config: JobConfig) -> Dag:
    """`dag` with the job's config replaced (as deployed, with its --set overrides);
    `dag` itself when it holds that config already (e.g. from `deploy_dag`)."""
    if dag.jobs.get(config.job_name) == config:
        return dag
    return Dag.build([config if c.job_name == config.job_name else c for c in dag.jobs.values()])


def deploy_local(
    config: JobConfig,
    dag: Dag,
    *,
    module: str,
    job: str,
    overrides: Sequence[str] = (),
    extra_args: Sequence[str] = (),
    console: Console,
    dry_run: bool = False,
    restart: bool = False,
    stack_root: pathlib.Path | None = None,
    jobs_root: pathlib.Path | None = None,
    cwd: pathlib.Path | None = None,
) -> int:
    """Deploys the job on the local stack (see the module docstring); the exit status.

    `overrides` go to the job as `--set` (they are already in `config`); `extra_args`
    (job or Beam flags) are passed on as they are. A job that runs already is left
    alone, unless `restart`: then it is stopped (drained) and started again."""
    stack = LocalStack(stack_root)
    jobs = LocalJobs(jobs_root)
    plan = local_plan(job_plan(plan_wiring(with_config(dag, config)), config), stack.uploads_topic)
    args = ["--stream", *(part for item in overrides for part in ("--set", item)), *extra_args]
    try:
        check_job_flags(config, args)
    except ConfigError as err:
        console.print(
            f"[red]deploy:[/red] {escape(str(err))}; nothing was "
            + ("changed (dry run)" if dry_run else "stopped or started")
        )
        return 2
    base = pathlib.Path(cwd or working_directory())
    for warning in unread_parent_outputs(config, jobs, base):
        console.print(f"[yellow]warning:[/yellow] {escape(warning)}")
    streaming = can_stream(config)
    not_streaming = (
        f"{config.job_name} has no streaming event input (`pubsub` or "
        "`gcs_notification` under events.inputs) and no upstream job, so there is nothing "
        f"to run in the background: run its batch form with `bazel run //jobs/{job}`, or "
        "give it one, e.g. "
        "--set 'events.inputs=[{type: gcs_notification, bucket: B, prefix: P}]'"
    )
    if not streaming:  # a dry run says what the deploy would do: refuse
        console.print(f"[red]deploy:[/red] {escape(not_streaming)}")
        return 2
    if dry_run:
        console.print(wiring_table(plan_rows(plan, local=True), f"wiring for {config.job_name}"))
        console.print(
            escape(
                f"dry run: nothing created; would start (or reuse) the local stack in "
                f"{stack.root}, apply this wiring and run "
                f"{shlex.join([module, '--profile', PROFILE, *args])} "
                f"in the background, logging to {jobs.log_path(job)}"
            )
        )
        return 0
    running = jobs.state(job)
    if running is not None and running.running and restart:
        console.print(escape(f"restarting {job}: {jobs.stop(job)}"))
    elif running is not None and running.running:
        console.print(
            f"[red]deploy:[/red] {escape(job)} is running already (pid {running.pid}): "
            f"`{JOB_TOOL} stop {escape(job)}` first, or deploy with --restart; "
            "nothing was changed"
        )
        return 1
    try:
        state, started = stack.ensure()
    except EmulatorError as err:
        console.print(f"[red]deploy:[/red] the local stack did not start: {escape(str(err))}")
        return 1
    if started:
        console.print(
            escape(
                f"local stack started in {stack.root}: Pub/Sub emulator {state.pubsub_host}, "
                f"fake-gcs-server {state.storage_url} (uploads to every bucket -> "
                f"{state.uploads_topic}). The Pub/Sub emulator keeps its state in memory: "
                f"the topics and subscriptions deploys made are recreated from "
                f"{stack.wiring_path.name} and (re)applied now, and the {stack.restored} "
                f"message(s) waiting in them at the last `stack stop` were restored from "
                f"{stack.pending_path} (only a stack that is killed, not stopped, loses its "
                f"waiting messages); objects are kept in {stack.root / 'gcs'}."
            )
        )
    else:
        console.print(
            escape(
                f"local stack running in {stack.root}: Pub/Sub {state.pubsub_host}, "
                f"storage {state.storage_url}"
            )
        )
    previous = apply_env(state.env)
    try:
        rows = apply_plan(plan, state.project, local=True)
        rows += ensure_local_buckets(config, state.project)
    finally:
        restore_env(previous)
    console.print(wiring_table(rows, f"wiring for {config.job_name} (local stack)"))
    stack.record_wiring(
        [t.name for t in plan.topics],
        [(s.name, s.topic, ACK_DEADLINE_S) for s in plan.subscriptions if not s.external],
    )
    if problems(rows):
        console.print("[red]deploy:[/red] the wiring has problems (above); the job was not started")
        return 1
    try:
        outputs = [resolved(loc.location, base) for loc in config.data.outputs]
        job_state = jobs.start(job, module, state.env, args=args, cwd=cwd, outputs=outputs)
    except JobError as err:
        console.print(f"[red]deploy:[/red] {escape(str(err))}")
        return 1
    console.print(
        f"[green]{escape(config.job_name)} is streaming[/green] in the background "
        f"(pid {job_state.pid})\n"
        + escape(
            f"  logs:   {job_state.log}   ({JOB_TOOL} logs {job})\n"
            f"  status: {JOB_TOOL} status\n"
            f"  stop:   {JOB_TOOL} stop {job}   (drains: unfinished messages go back to Pub/Sub)\n"
            f"  stack:  {JOB_TOOL} stack stop   (env for clients: {stack.root / 'env.json'})"
        )
    )
    return 0


__all__ = ["check_job_flags", "deploy_local", "job_parser", "unread_parent_outputs", "with_config"]
