"""audio-info: a small Cadenza job that describes every audio file in a folder.

The runtime does the rest: it lists the folder, runs `AudioInfo` on each file through
the message lifecycle, writes `<output>/<file>.json` with provenance, dead-letters
unreadable files with the reason, and prints a summary. Then the job shows a table.

    bazel run //jobs/audio_info                     # .cadenza/samples -> .cadenza/out/audio_info
    AUDIO_INFO_INPUT=DIR AUDIO_INFO_OUTPUT=OUT bazel run //jobs/audio_info
"""

from __future__ import annotations

import pathlib
import sys

from rich.markup import escape
from rich.table import Table

from cadenza.runtime import JobLogic, Result
from cadenza.runtime.cli import run_job_cli
from cadenza.runtime.outputs import json_outputs
from jobs.audio_info.transforms import describe_audio

CONFIG = pathlib.Path(__file__).with_name("job.yaml")


class AudioInfo(JobLogic):
    """One file in, one JSON description out."""

    def process(self, ctx):
        info = describe_audio(ctx.element, ctx.inputs["audio"].read_bytes())
        return Result(outputs={"info": info})


def show(run, console) -> None:
    """A table of what the run described."""
    (location,) = [d.location for d in run.config.data.outputs]
    rows = json_outputs(location, required_key="format", sort_by="file")
    table = Table(title=f"audio-info: {len(rows)} files described")
    for column in ("file", "format", "sample rate", "channels", "duration (s)"):
        left = column in ("file", "format")
        table.add_column(column, justify="left" if left else "right", overflow="fold")
    for row in rows:
        table.add_row(
            escape(row["file"]),
            f"{row['format']}/{row['subtype']}",
            f"{row['sample_rate']:,d}",
            str(row["channels"]),
            f"{row['duration_s']:.2f}",
        )
    console.print(table)
    console.print(f"outputs: {escape(location)}/")


def main(argv=None) -> int:
    return run_job_cli(AudioInfo(), CONFIG, argv, after=show)


if __name__ == "__main__":
    sys.exit(main())
