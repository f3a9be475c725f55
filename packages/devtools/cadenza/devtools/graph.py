"""`bazel run //tools:dag_graph`: draw the DAG from the registry.

    bazel run //tools:dag_graph                                  # a tree in the terminal
    bazel run //tools:dag_graph -- --job fingerprint             # its ancestors and descendants
    bazel run //tools:dag_graph -- --output dag.svg              # dot, svg or png (Graphviz)

Each job shows its profiles, the topics and subscriptions it reads and writes, and the
buckets whose uploads start it (a job with no streaming input and no parent runs in
batch only, and is shown so); `--output` paths are relative to where you ran bazel.
The format of `--output FILE` is its suffix's (.dot or .gv, .svg, .png); `--format`
names it for any other file name.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.tree import Tree

from cadenza.core import CadenzaError, Dag, WiringPlan, plan_wiring
from cadenza.core.config import FileInput, GcsNotificationInput, ListingInput, PubSubInput
from cadenza.core.event_kinds import can_stream
from cadenza.core.wiring import output_topic
from cadenza.devtools.job_names import job_name
from cadenza.devtools.registry import read_registry


def select(dag: Dag, job: str | None) -> list[str]:
    """The jobs to draw, in topological order: all, or `job` with its ancestors and descendants."""
    if job is None:
        return list(dag.topological_order())
    keep = {job, *dag.ancestors(job), *dag.descendants(job)}
    return [name for name in dag.topological_order() if name in keep]


def describe(dag: Dag, plan: WiringPlan, name: str) -> list[str]:
    """One line per fact about a job: profiles, event inputs, outputs, data."""
    config = dag.jobs[name]
    profiles = ", ".join(f"{p} ({config.profiles[p].runner})" for p in sorted(config.profiles))
    lines = [f"profiles: {profiles}"]
    if not can_stream(config):  # deploy refuses it: nothing ever reads its subscriptions
        lines.append("batch only: never deployed (no Pub/Sub or upload input, no parent)")
    for sub in plan.for_job(name) if can_stream(config) else ():
        source = "external" if sub.external else sub.topic
        prefix = f" prefix {sub.prefix!r}" if sub.prefix else ""
        lines.append(f"reads: {sub.name} <- {source}{prefix}")
    for event_input in config.events.inputs:
        if isinstance(event_input, GcsNotificationInput):
            lines.append(f"uploads: gs://{event_input.bucket}/{event_input.prefix}")
        elif isinstance(event_input, ListingInput):
            lines.append(f"batch: listing {event_input.location}")
        elif isinstance(event_input, FileInput):
            lines.append(f"batch: ids from {event_input.path}")
        elif isinstance(event_input, PubSubInput):
            pass  # shown with the subscriptions
    if can_stream(config):
        extra = [o.topic for o in config.events.outputs]
        lines.append(f"publishes: {', '.join([output_topic(name), *extra])}")
    else:  # batch runs write their children's messages to files
        lines.append("events: each batch run's events/ folder")
    for data in config.data.outputs:
        lines.append(f"writes {data.name}: {data.location}/<id>{data.suffix}")
    return lines


def rich_tree(dag: Dag, job: str | None = None) -> Tree:
    """The DAG as a tree from its roots; a job with several parents is drawn once in full."""
    plan = plan_wiring(dag)
    names = select(dag, job)
    title = "Cadenza DAG" + (f": {job} with its ancestors and descendants" if job else "")
    count = f"{len(names)} job" + ("" if len(names) == 1 else "s")
    root = Tree(f"[bold]{escape(title)}[/bold] ({count})")
    drawn: set[str] = set()

    def add(branch: Tree, name: str) -> None:
        style = "bold green" if name == job else "bold"
        if name in drawn:
            branch.add(f"[{style}]{escape(name)}[/{style}] [dim](shown above)[/dim]")
            return
        drawn.add(name)
        node = branch.add(f"[{style}]{escape(name)}[/{style}]")
        for line in describe(dag, plan, name):
            node.add(f"[dim]{escape(line)}[/dim]")
        for child in dag.children(name):
            if child in names:
                add(node, child)

    for name in names:
        if not any(parent in names for parent in dag.parents(name)):
            add(root, name)
    return root


def to_dot(dag: Dag, job: str | None = None) -> str:
    """Graphviz source: jobs as boxes, upload buckets as cylinders, edges named by subscription."""
    plan = plan_wiring(dag)
    names = select(dag, job)
    lines = [
        "digraph cadenza {",
        "  rankdir=LR;",
        '  node [fontname="Helvetica", fontsize=10];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    for name in names:
        label = "\\n".join([name, *describe(dag, plan, name)])
        color = ', style=filled, fillcolor="#d8f0d8"' if name == job else ""
        lines.append(f"  {_quote(name)} [shape=box, label={_quote(label)}{color}];")
    for name in names:
        for sub in plan.for_job(name):
            for parent in dag.parents(name):
                if sub.topic == output_topic(parent) and parent in names:
                    lines.append(
                        f"  {_quote(parent)} -> {_quote(name)} [label={_quote(sub.name)}];"
                    )
        for event_input in dag.jobs[name].events.inputs:
            if isinstance(event_input, GcsNotificationInput):
                bucket = f"gs://{event_input.bucket}"
                lines.append(f"  {_quote(bucket)} [shape=cylinder];")
                label = f"{event_input.prefix or '*'} (finalize)"
                lines.append(f"  {_quote(bucket)} -> {_quote(name)} [label={_quote(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\\\\n", "\\n") + '"'


def render(dot_source: str, fmt: str, output: pathlib.Path) -> None:
    """Writes `dot_source` as `fmt` (dot, svg, png) to `output`, using Graphviz for images."""
    if fmt == "dot":
        output.write_text(dot_source)
        return
    dot = shutil.which("dot")
    if dot is None:
        raise CadenzaError("Graphviz's `dot` is not installed (Debian package graphviz)")
    result = subprocess.run(
        [dot, f"-T{fmt}", "-o", str(output)], input=dot_source, text=True, capture_output=True
    )
    if result.returncode != 0:
        raise CadenzaError(f"dot -T{fmt} failed: {result.stderr.strip()}")


# the formats a file is written in, by the file name's suffix
FILE_FORMATS = {".dot": "dot", ".gv": "dot", ".svg": "svg", ".png": "png"}


def output_format(output: pathlib.Path | None, fmt: str | None) -> str:
    """The format to draw in: `fmt` when given, else the suffix of `output`'s (the tree
    without an output). Raises ValueError for an output whose suffix names no format."""
    if fmt is not None:
        if fmt == "tree" and output is not None:
            raise ValueError(
                f"--format tree is drawn in the terminal, not written to {output}: "
                f"give --format {'|'.join(sorted(set(FILE_FORMATS.values())))} with --output"
            )
        if fmt != "tree" and output is None:
            raise ValueError(f"--format {fmt} needs --output FILE")
        return fmt
    if output is None:
        return "tree"
    found = FILE_FORMATS.get(output.suffix.lower())
    if found is None:
        raise ValueError(
            f"cannot tell the format of --output {output} from its suffix "
            f"({output.suffix or 'none'}): name the file {', '.join(FILE_FORMATS)}, or give "
            f"--format {'|'.join(sorted(set(FILE_FORMATS.values())))}"
        )
    return found


def main(argv: Sequence[str] | None = None, registry: str | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="dag_graph",
        description="Draw the Cadenza DAG: a tree in the terminal, or a file with --output.",
    )
    parser.add_argument(
        "--format",
        choices=["tree", "dot", "svg", "png"],
        default=None,
        help="tree (the default without --output), or a file's format: dot, svg, png "
        "(svg and png need Graphviz); default: the suffix of --output "
        f"({', '.join(f'{k} -> {v}' for k, v in FILE_FORMATS.items())})",
    )
    parser.add_argument(
        "--output",
        type=pathlib.Path,
        help="file to write, relative to where bazel was run; its suffix names the format "
        "unless --format does",
    )
    parser.add_argument(
        "--job", help="only this job (job_name or folder), its ancestors and its descendants"
    )
    parser.add_argument("--registry", default=registry, help="registry JSON (default: built)")
    args = parser.parse_args(argv)
    console = Console()
    errors = Console(stderr=True)
    try:
        args.format = output_format(args.output, args.format)
    except ValueError as error:
        parser.error(str(error))
    try:
        dag = read_registry(args.registry)
        if args.job is not None:
            args.job = job_name(args.job)  # a job's folder name works too
            dag.parents(args.job)  # names the closest job when it does not exist
        if args.format == "tree":
            console.print(rich_tree(dag, args.job))
            return 0
        base = pathlib.Path(os.environ.get("BUILD_WORKING_DIRECTORY", "."))
        output = base / args.output
        render(to_dot(dag, args.job), args.format, output)
    except (CadenzaError, OSError) as error:
        errors.print(f"[red]dag_graph:[/red] {escape(str(error))}")
        return 2
    errors.print(f"wrote {escape(str(output))} ({args.format}, {len(select(dag, args.job))} jobs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
