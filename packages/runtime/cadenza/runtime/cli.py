"""The command line every job gets: run it with a profile, in batch or streaming.

    bazel run //jobs/<job> -- [--profile local|dask|dataflow] [--set key.path=value ...]

A job runs its batch inputs (a listing, a file of ids) and prints the summary. A job
whose only event inputs stream (`pubsub`, `gcs_notification`) streams on the local
runner until it is stopped (Ctrl-C or SIGTERM: messages in work go back to Pub/Sub).
`--stream` streams whatever the config says (its streaming inputs, and its parents'
output events through the DAG's edge subscriptions: how `deploy` runs a job);
`--batch` runs the batch inputs. `${VAR}` in job.yaml come from the environment;
`--fail-on-dead-letters` makes a batch run that dead-lettered anything exit with
status 1 (by default a run that went through is a success: its dead letters are
results too). `--set` overrides any key; any other option must be one of Beam's pipeline options (a
mistyped one is refused, not ignored). Relative paths are relative to where the command was
started (not Bazel's runfiles).
"""

from __future__ import annotations

import argparse
import os
import pathlib
import signal
import sys
import threading
from collections.abc import Callable, Sequence

from google.auth.exceptions import DefaultCredentialsError
from rich.console import Console
from rich.markup import escape

from cadenza.core import CadenzaError, JobConfig, load_job_config
from cadenza.core.event_kinds import has_batch_input, is_streaming
from cadenza.runtime.api import JobLogic
from cadenza.runtime.batch import BatchRun, run_batch
from cadenza.runtime.profiles import check_flags
from cadenza.runtime.streaming import run_streaming
from cadenza.runtime.summary import print_summary

NO_CREDENTIALS = (
    "cannot reach Google Cloud: no credentials found. For Cloud Storage and Pub/Sub "
    "themselves: `gcloud auth application-default login` or GOOGLE_APPLICATION_CREDENTIALS; "
    "for the local stack's emulators, STORAGE_EMULATOR_HOST and PUBSUB_EMULATOR_HOST (or "
    "give the job local paths)"
)


def job_parser(description: str | None = None, add_help: bool = True) -> argparse.ArgumentParser:
    """The job's own options; the rest of its command line goes to Beam."""
    parser = argparse.ArgumentParser(description=description, add_help=add_help)
    parser.add_argument("--profile", default="local", help="a profile of job.yaml (default: local)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override")
    parser.add_argument("--runs", default=".cadenza/runs", help="where run records and state go")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--batch", action="store_true", help="run the batch inputs only")
    mode.add_argument(
        "--stream",
        action="store_true",
        help="stream from the streaming inputs and the parents' output events (as deployed)",
    )
    parser.add_argument(
        "--fail-on-dead-letters",
        action="store_true",
        help="batch: exit with status 1 when any element was dead-lettered (for scripts)",
    )
    parser.add_argument(
        "--max-messages",
        type=_at_least_one,
        default=10,
        help="streaming: messages in work at once (default 10)",
    )
    return parser


def run_job_cli(
    logic: JobLogic,
    config_path: str | os.PathLike,
    argv: Sequence[str] | None = None,
    after: Callable[[BatchRun, Console], None] | None = None,
) -> int:
    """Parses the command line, loads the config, runs the job (batch or streaming)."""
    config_path = pathlib.Path(config_path).resolve()
    parser = job_parser(f"Run the job in {config_path.parent.name}.")
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
        own = [flag for action in parser._actions for flag in action.option_strings]
        check_flags(config, args.profile, "the command line", beam_args, own_flags=own)
        if args.stream or (is_streaming(config) and not has_batch_input(config) and not args.batch):
            return _stream(config, logic, args, beam_args, console)
        run = run_batch(
            config, logic, profile=args.profile, runs_root=args.runs, extra_args=beam_args
        )
    except CadenzaError as err:
        console.print(f"[red]error[/red] {escape(str(err))}")
        return 2
    except DefaultCredentialsError as err:  # a gs:// location, and no way to reach it
        console.print(f"[red]error[/red] {escape(NO_CREDENTIALS)} ({escape(str(err))[:200]})")
        return 2
    print_summary(run, console)
    if after:
        after(run, console)
    dead = sum(n for outcome, n in run.counts().items() if outcome.startswith("dead_letter"))
    if dead and args.fail_on_dead_letters:
        console.print(f"[red]failed[/red] {dead} element(s) dead-lettered")
        return 1
    return 0


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def _stream(config: JobConfig, logic: JobLogic, args, beam_args, console: Console) -> int:
    """Streams until SIGINT/SIGTERM or a pipeline failure; prints what it settled."""
    stop = threading.Event()
    previous = {
        sig: signal.signal(sig, lambda *_: stop.set()) for sig in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        run = run_streaming(
            config,
            logic,
            profile=args.profile,
            runs_root=args.runs,
            extra_args=beam_args,
            max_messages=args.max_messages,
            from_upstream=args.stream,
        )
        console.print(
            f"{config.job_name}: streaming from {', '.join(run.subscriptions)} (Ctrl-C stops)"
        )
        while not stop.wait(0.5) and not run.wait(0):
            pass
        run.stop()
        counters = run.settled()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print(
        f"{config.job_name}: stopped; "
        + (", ".join(f"{k} {v}" for k, v in counters.items()) or "no messages")
    )
    if run.error is not None:
        console.print(f"[red]error[/red] the pipeline failed: {run.error}")
        return 1
    return 0
