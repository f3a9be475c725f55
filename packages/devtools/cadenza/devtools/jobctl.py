"""`bazel run //tools:job -- COMMAND`: the jobs deployed on the local stack, and its files.

Manages what `bazel run //jobs/<job>:deploy` started on the local stack, from the
directory bazel is run in (`.cadenza/jobs/`, `.cadenza/stack/`):

    status [JOB]          the jobs started here: running or not, pid, log
    stop JOB|--all        SIGTERM, then wait for the drain (--timeout, default 60 s)
    logs JOB [-n N] [-f]  the end of the job's log (-f: follow)
    stack status|stop     the local stack (stopping keeps the objects, the wiring and the
                          waiting messages for the next start; it refuses while jobs
                          run, unless --with-jobs)
    upload FILE... --to gs://BUCKET/PREFIX/   put files on the local stack's storage
                          server: each upload notifies the jobs watching that bucket
    ls gs://BUCKET[/PREFIX]   the objects there, with sizes
    send JOB ELEMENT...   a message to the job's input topic (cadenza-<job_name>-in):
                          --ping (test the wiring: no work, passed on to the children),
                          --force (redo it even if its outputs exist), --bottom-up
                          (only JOB runs, asking its parents for missing inputs;
                          --trigger-children: then JOB's children run too)
    provenance PATH...    what wrote each output: job, version, trace and message ids,
                          input digests (local files, or gs:// on the local stack)
    cat PATH...           print files or objects, JSON pretty-printed (a dead-letter
                          record, a report)

A JOB is named by its folder (`audio_info`) or its job_name (`audio-info`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import os
import pathlib
import re
import sys
import time
from collections.abc import Sequence

from google.api_core.exceptions import NotFound
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cadenza.core import Message, Recipients, encode
from cadenza.core.event_kinds import can_stream
from cadenza.core.wiring import input_topic
from cadenza.devtools.job_names import folder_name, job_name
from cadenza.devtools.localjobs import STOP_TIMEOUT_S, JobError, LocalJobs, tail
from cadenza.devtools.localstack import LocalStack, working_directory
from cadenza.devtools.registry import read_registry


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bazel run //tools:job --",
        description=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--registry", help="the DAG registry, to explain a failed send (default: Bazel's last)"
    )
    parser.add_argument("--jobs-root", type=pathlib.Path, help="default .cadenza/jobs")
    parser.add_argument("--stack-root", type=pathlib.Path, help="default .cadenza/stack")
    commands = parser.add_subparsers(dest="command", required=True)
    status = commands.add_parser("status", help="the jobs started here")
    status.add_argument("job", nargs="?")
    stop = commands.add_parser("stop", help="stop a job (drains)")
    stop.add_argument("job", nargs="?")
    stop.add_argument("--all", action="store_true", help="every running job")
    stop.add_argument("--timeout", type=float, default=STOP_TIMEOUT_S)
    logs = commands.add_parser("logs", help="a job's log")
    logs.add_argument("job")
    logs.add_argument("-n", "--lines", type=int, default=40)
    logs.add_argument("-f", "--follow", action="store_true")
    upload = commands.add_parser("upload", help="upload files to the local stack's storage")
    upload.add_argument("files", nargs="+", type=pathlib.Path)
    upload.add_argument("--to", required=True, help="gs://BUCKET/PREFIX/ (created if missing)")
    listing = commands.add_parser("ls", help="objects on the local stack's storage")
    listing.add_argument("location", help="gs://BUCKET[/PREFIX]")
    send = commands.add_parser("send", help="send messages to a deployed job")
    send.add_argument("job")
    send.add_argument("elements", nargs="+", metavar="element")
    send.add_argument("--ping", action="store_true", help="no work: test the wiring")
    send.add_argument("--force", action="store_true", help="redo even if the outputs exist")
    send.add_argument(
        "--bottom-up", action="store_true", help="only JOB runs (and its parents if needed)"
    )
    send.add_argument(
        "--trigger-children", action="store_true", help="with --bottom-up: then JOB's children"
    )
    provenance = commands.add_parser("provenance", help="what wrote an output")
    provenance.add_argument("paths", nargs="+", metavar="path")
    cat = commands.add_parser("cat", help="print files or objects (JSON pretty-printed)")
    cat.add_argument("paths", nargs="+", metavar="path")
    stack = commands.add_parser("stack", help="the local stack")
    stack.add_argument("action", choices=["status", "stop"])
    stack.add_argument(
        "--with-jobs", action="store_true", help="stop: stop (drain) the running jobs first"
    )
    return parser


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")


def _status(jobs: LocalJobs, job: str | None, console: Console) -> int:
    names = [folder_name(job)] if job else jobs.names()
    if not names:
        console.print(f"no jobs started from here ({escape(str(jobs.root))})")
        return 0
    table = Table(title=f"jobs in {escape(str(jobs.root))}")
    for column in ("job", "state", "pid", "started", "log"):
        table.add_column(column, overflow="fold")
    missing = False
    for name in names:
        state = jobs.state(name)
        if state is None:
            table.add_row(escape(name), "[red]unknown[/red]", "", "", "")
            missing = True
            continue
        running = "[green]running[/green]" if state.running else "stopped"
        table.add_row(
            escape(name), running, str(state.pid), _when(state.started_at), escape(state.log)
        )
    console.print(table)
    return 1 if missing else 0


def _stop(jobs: LocalJobs, args, console: Console) -> int:
    if args.all:
        names = [n for n in jobs.names() if (s := jobs.state(n)) and s.running]
    elif args.job:
        names = [folder_name(args.job)]
    else:
        console.print("[red]stop:[/red] name a job, or --all")
        return 2
    code = 0
    for name in names:
        try:
            state = jobs.state(name)
            if state is not None and state.running:  # else stop() says why not
                console.print(
                    f"stopping {escape(name)} (SIGTERM; up to {args.timeout:.0f} s to drain)..."
                )
            console.print(escape(jobs.stop(name, args.timeout)))
        except JobError as err:
            console.print(f"[red]stop:[/red] {escape(str(err))}")
            code = 1
    return code


def _logs(jobs: LocalJobs, args, console: Console) -> int:
    path = jobs.log_path(folder_name(args.job))
    if not path.exists():
        console.print(f"[red]logs:[/red] no log at {escape(str(path))}")
        return 1
    print(tail(path, args.lines), flush=True)
    if not args.follow:
        return 0
    with open(path, errors="replace") as handle:
        handle.seek(0, 2)
        try:
            while True:
                line = handle.readline()
                if line:
                    print(line, end="", flush=True)
                else:
                    time.sleep(0.3)
        except KeyboardInterrupt:
            return 0


def _stack(stack: LocalStack, jobs: LocalJobs, args, console: Console) -> int:
    if args.action == "status":
        state = stack.status()
        if state is None:
            console.print(f"the local stack in {escape(str(stack.root))} is not running")
            return 1
        console.print(
            escape(
                f"local stack in {stack.root}: Pub/Sub emulator {state.pubsub_host} "
                f"(pid {state.pids['pubsub']}), fake-gcs-server {state.storage_url} "
                f"(pid {state.pids['storage']}), uploads topic {state.uploads_topic}; "
                f"since {_when(state.started_at)}; env: {stack.root / 'env.json'}"
            )
        )
        return 0
    running = [n for n in jobs.names() if (s := jobs.state(n)) and s.running]
    if running and not args.with_jobs:
        console.print(
            f"[red]stack stop:[/red] jobs still run on it: {escape(', '.join(running))}; stop them "
            "first (`stop --all`), or pass --with-jobs"
        )
        return 1
    for name in running:
        console.print(escape(jobs.stop(name)))
    if stack.stop():
        console.print(
            escape(
                f"local stack in {stack.root} stopped. Objects are kept in {stack.root / 'gcs'}; "
                f"the {stack.saved} message(s) waiting in its subscriptions in "
                f"{stack.pending_path}, and its topics and subscriptions in "
                f"{stack.wiring_path.name}: the next start (the next deploy) restores them."
            )
        )
    else:
        console.print(f"no local stack recorded in {escape(str(stack.root))}")
    return 0


_BUCKET = re.compile(r"[a-z0-9]([a-z0-9._-]*[a-z0-9])?")


def _split(location: str) -> tuple[str, str]:
    if not location.startswith("gs://") or len(location) <= len("gs://"):
        raise ValueError(f"{location!r} is not a gs://BUCKET[/PREFIX] location")
    bucket, _, prefix = location[len("gs://") :].partition("/")
    if not _BUCKET.fullmatch(bucket):
        raise ValueError(
            f"{location!r} is not a gs://BUCKET[/PREFIX] location: {bucket!r} is not a bucket "
            "name (lowercase letters, digits, '-', '_' and '.', starting and ending with a "
            "letter or digit)"
        )
    return bucket, prefix


def _storage(stack: LocalStack, what: str, console: Console):
    """A storage client on the running stack, or None (said why)."""
    from google.cloud import storage

    from cadenza.devtools.emulators import apply_env

    state = stack.status()
    if state is None:
        console.print(
            f"[red]{what}:[/red] the local stack in {escape(str(stack.root))} is not running "
            "(deploy a job)"
        )
        return None
    apply_env(state.env)
    return storage.Client(project=state.project)


def _upload(stack: LocalStack, args, console: Console) -> int:
    try:
        bucket_name, prefix = _split(args.to)
    except ValueError as err:
        console.print(f"[red]upload:[/red] --to {escape(str(err))}")
        return 2
    missing = [str(f) for f in args.files if not f.is_file()]
    if missing:
        console.print(
            f"[red]upload:[/red] not files: {escape(', '.join(missing))}; nothing was uploaded"
        )
        return 2
    client = _storage(stack, "upload", console)
    if client is None:
        return 1
    bucket = client.lookup_bucket(bucket_name)
    if bucket is None:  # deploy creates the buckets jobs watch: likely a typo
        bucket = client.create_bucket(bucket_name)
        console.print(
            f"[yellow]note:[/yellow] created {escape(f'gs://{bucket_name}')}: it did not exist, "
            "so no deployed job watches it (deploy creates the buckets its jobs watch)"
        )
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    for path in args.files:
        bucket.blob(prefix + path.name).upload_from_filename(str(path))
        uploaded = f"gs://{bucket_name}/{prefix}{path.name}"
        console.print(f"{escape(uploaded)}  ({path.stat().st_size:,d} bytes)", soft_wrap=True)
    return 0


def _ls(stack: LocalStack, args, console: Console) -> int:
    try:
        bucket_name, prefix = _split(args.location)
    except ValueError as err:
        console.print(f"[red]ls:[/red] {escape(str(err))}")
        return 2
    client = _storage(stack, "ls", console)
    if client is None:
        return 1
    if client.lookup_bucket(bucket_name) is None:
        console.print(
            f"[red]ls:[/red] no bucket {escape(f'gs://{bucket_name}')} on the local stack"
        )
        return 1
    for blob in client.list_blobs(bucket_name, prefix=prefix or None):
        line = f"{blob.size:>12,d}  {escape(f'gs://{bucket_name}/{blob.name}')}"
        console.print(line, highlight=False, soft_wrap=True)  # one line each, for scripts
    return 0


def outgoing_message(args, element: str) -> Message:
    """The message `send` publishes for one element."""
    recipients = Recipients.anyone()
    if args.bottom_up:
        name = job_name(args.job)
        children_of = name if args.trigger_children else None
        recipients = Recipients.only([name], trigger_children_of=children_of)
    return Message.new(element, ping=args.ping, force=args.force, recipients=recipients)


def _not_sendable(args) -> str | None:
    """Why `args.job` cannot take messages, when the registry (`--registry`, else the
    last one Bazel built) says: no such job (with the closest name), or a job that runs
    in batch only; None when it can, or when no registry can be read. Only explains a
    failed send: a registry built before the job was added must not stop it."""
    path = args.registry or os.path.join(
        os.environ.get("BUILD_WORKSPACE_DIRECTORY", "."), "bazel-bin", "jobs", "registry.json"
    )
    try:
        dag = read_registry(path)
    except Exception:  # none built yet, or damaged: nothing to add
        return None
    name = job_name(args.job)
    if name not in dag.jobs:
        close = difflib.get_close_matches(name, list(dag.jobs), n=1)
        hint = f"; did you mean {folder_name(close[0])!r}?" if close else ""
        return f"no job {args.job!r} in the DAG{hint}"
    if not can_stream(dag.jobs[name]):
        return (
            f"{args.job} runs in batch only (no Pub/Sub or upload input, no parent): it is "
            f"never deployed, so nothing reads messages sent to it; run it with "
            f"bazel run //jobs/{folder_name(args.job)}"
        )
    return None


def _send(stack: LocalStack, args, console: Console) -> int:
    from google.cloud import pubsub_v1

    from cadenza.devtools.emulators import apply_env

    if args.trigger_children and not args.bottom_up:
        console.print("[red]send:[/red] --trigger-children goes with --bottom-up")
        return 2
    state = stack.status()
    if state is None:
        problem = _not_sendable(args) or (
            f"the local stack in {stack.root} is not running: deploy {args.job} first "
            f"(bazel run //jobs/{folder_name(args.job)}:deploy)"
        )
        console.print(f"[red]send:[/red] {escape(problem)}")
        return 1
    apply_env(state.env)
    publisher = pubsub_v1.PublisherClient()
    topic = f"projects/{state.project}/topics/{input_topic(job_name(args.job))}"
    for element in args.elements:
        message = outgoing_message(args, element)
        try:
            publisher.publish(topic, encode(message)).result(timeout=30)
        except NotFound:
            problem = _not_sendable(args) or (
                f"no topic {topic}: deploy {args.job} first "
                f"(bazel run //jobs/{folder_name(args.job)}:deploy)"
            )
            console.print(f"[red]send:[/red] {escape(problem)}")
            return 1
        console.print(
            escape(
                f"sent {element!r} to {args.job}: message {message.message_id}, "
                f"trace {message.trace_id}"
            ),
            highlight=False,
        )
    return 0


def _reach_stack(stack: LocalStack, paths, command: str, console: Console) -> bool:
    """Points this process at the local stack if any of `paths` is on gs://; False
    (said) if it is not running."""
    if not any(path.startswith("gs://") for path in paths):
        return True
    from cadenza.devtools.emulators import apply_env

    state = stack.status()
    if state is None:
        console.print(
            f"[red]{command}:[/red] the local stack in {escape(str(stack.root))} is not running"
        )
        return False
    apply_env(state.env)
    return True


def _cat(stack: LocalStack, args, console: Console) -> int:
    from cadenza.runtime.storage import read_bytes

    if not _reach_stack(stack, args.paths, "cat", console):
        return 1
    code = 0
    for path in args.paths:
        try:
            data = read_bytes(path)
        except (OSError, ValueError) as err:  # missing, a folder, a bad gs:// path
            console.print(f"[red]cat:[/red] {escape(path)}: {escape(str(err))}", soft_wrap=True)
            code = 1
            continue
        if len(args.paths) > 1:
            console.print(escape(path), style="bold", highlight=False, soft_wrap=True)
        try:
            console.print_json(data.decode("utf-8"))
        except ValueError:  # not JSON (or not UTF-8): as it is, if it is text
            try:
                print(data.decode("utf-8"), end="" if data.endswith(b"\n") else "\n")
            except UnicodeDecodeError:
                console.print(f"({len(data):,d} bytes, not text)", highlight=False)
    return code


def _provenance(stack: LocalStack, args, console: Console) -> int:
    from cadenza.runtime.storage import read_provenance

    if not _reach_stack(stack, args.paths, "provenance", console):
        return 1
    code = 0
    for path in args.paths:
        record = read_provenance(path)
        if record is None:
            console.print(
                f"[red]provenance:[/red] {escape(path)}: no provenance recorded "
                "(or no such output)",
                soft_wrap=True,
            )
            code = 1
            continue
        console.print(escape(path), style="bold", highlight=False, soft_wrap=True)
        console.print_json(data=record)
    return code


def _user_paths(args) -> None:
    """Relative paths the user gave, resolved where the command was run: `bazel run`
    starts it in the binary's runfiles tree (BUILD_WORKING_DIRECTORY names the user's)."""
    here = working_directory()
    for name in ("jobs_root", "stack_root"):
        if getattr(args, name) is not None:
            setattr(args, name, here / getattr(args, name))
    if args.command == "upload":
        args.files = [here / path for path in args.files]
    if args.command in ("provenance", "cat"):
        args.paths = [p if p.startswith("gs://") else str(here / p) for p in args.paths]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    _user_paths(args)
    console = Console()
    jobs = LocalJobs(args.jobs_root)
    if args.command == "status":
        return _status(jobs, args.job, console)
    if args.command == "stop":
        return _stop(jobs, args, console)
    if args.command == "logs":
        return _logs(jobs, args, console)
    if args.command == "upload":
        return _upload(LocalStack(args.stack_root), args, console)
    if args.command == "ls":
        return _ls(LocalStack(args.stack_root), args, console)
    if args.command == "send":
        return _send(LocalStack(args.stack_root), args, console)
    if args.command == "provenance":
        return _provenance(LocalStack(args.stack_root), args, console)
    if args.command == "cat":
        return _cat(LocalStack(args.stack_root), args, console)
    return _stack(LocalStack(args.stack_root), jobs, args, console)


if __name__ == "__main__":
    sys.exit(main())
