"""audio_info: a small Cadenza job that describes every audio file under a pattern.

Reads every file matching --input (any Beam filesystem: local paths, gs://), writes
one JSON line per file (format, sample rate, channels, duration) to
OUTPUT/audio_info.jsonl and one line per unreadable file, with the reason, to
OUTPUT/dead_letter.jsonl, then prints both as a table.

    bazel run //jobs/audio_info -- --input 'DIR/*' --output OUT
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import apache_beam as beam
from apache_beam.io import fileio
from apache_beam.io.filesystems import FileSystems
from apache_beam.options.pipeline_options import PipelineOptions
from rich.console import Console
from rich.table import Table

from jobs.audio_info.transforms import DescribeAudio

LOCAL_RUNNER = "apache_beam.runners.portability.fn_api_runner.FnApiRunner"


def _read_file(readable) -> tuple[str, bytes]:
    return os.path.basename(readable.metadata.path), readable.read()


def build(pipeline: beam.Pipeline, input_pattern: str, output: str) -> None:
    """Adds the job's steps to `pipeline`."""
    results = (
        pipeline
        | "Match" >> fileio.MatchFiles(input_pattern)
        | "Open" >> fileio.ReadMatches()
        | "Read" >> beam.Map(_read_file)
        | "Describe" >> DescribeAudio()
    )
    for name, pcoll in (("audio_info", results.described), ("dead_letter", results.failed)):
        _ = (
            pcoll
            | f"{name}ToJson" >> beam.Map(json.dumps, sort_keys=True)
            | f"Write{name}"
            >> beam.io.WriteToText(
                FileSystems.join(output, name), file_name_suffix=".jsonl", shard_name_template=""
            )
        )


def read_jsonl(path: str) -> list[dict]:
    with FileSystems.open(path) as handle:
        return [json.loads(line) for line in handle.read().decode().splitlines() if line]


def show(output: str, console: Console) -> None:
    """Prints the job's outputs as tables."""
    described = sorted(read_jsonl(FileSystems.join(output, "audio_info.jsonl")), key=str)
    table = Table(title=f"audio_info: {len(described)} files described")
    for column in ("file", "format", "sample rate", "channels", "duration (s)"):
        left = column in ("file", "format")
        table.add_column(column, justify="left" if left else "right", overflow="fold")
    for row in sorted(described, key=lambda r: r["file"]):
        table.add_row(
            row["file"],
            f"{row['format']}/{row['subtype']}",
            f"{row['sample_rate']:,d}",
            str(row["channels"]),
            f"{row['duration_s']:.2f}",
        )
    console.print(table)
    for failure in read_jsonl(FileSystems.join(output, "dead_letter.jsonl")):
        console.print(f"[red]dead letter[/red] {failure['reason']}")
    console.print(f"outputs: {output}/audio_info.jsonl, {output}/dead_letter.jsonl")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="file pattern, e.g. 'DIR/*'")
    parser.add_argument("--output", required=True, help="output folder")
    args, beam_args = parser.parse_known_args(argv)
    if not any(a.startswith("--runner") for a in beam_args):
        beam_args.append(f"--runner={LOCAL_RUNNER}")
    with beam.Pipeline(options=PipelineOptions(beam_args)) as pipeline:
        build(pipeline, args.input, args.output)
    show(args.output, Console() if sys.stdout.isatty() else Console(width=120))
    return 0


if __name__ == "__main__":
    sys.exit(main())
