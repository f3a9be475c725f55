"""features: tempo, key, chroma, loudness and a spectrogram of every normalised track.

    bazel run //jobs/features            # .cadenza/out/normalize/*.flac -> .cadenza/out/features
    NORMALIZE_OUTPUT=DIR FEATURES_OUTPUT=OUT bazel run //jobs/features

A child of `normalize` in the DAG: it reads the canonical FLAC files that job writes.
The runtime lists them, runs `Features` on each through the message lifecycle, writes
`<track>.json` and `<track>.png` with provenance, dead-letters what cannot be decoded
(with the reason), and prints a summary; then this shows each track's features.
"""

from __future__ import annotations

import pathlib
import sys

from rich.markup import escape
from rich.table import Table

from cadenza.runtime.cli import run_job_cli
from cadenza.runtime.outputs import json_outputs
from jobs.features.logic import Features

CONFIG = pathlib.Path(__file__).with_name("job.yaml")


def show(run, console) -> None:
    """A table of the tracks' tempo, key and loudness."""
    location = next(d.location for d in run.config.data.outputs if d.name == "features")
    rows = json_outputs(location, required_key="tempo", sort_by="file")
    table = Table(title=f"features: {len(rows)} track(s)")
    for column in ("track", "duration (s)", "tempo (BPM)", "key", "loudness (LUFS)", "peak"):
        table.add_column(column, justify="left" if column in ("track", "key") else "right")
    for row in rows:
        tempo, key, loudness = row["tempo"], row["key"], row["loudness"]
        table.add_row(
            escape(row["file"]),
            f"{row['duration_s']:.1f}",
            "-" if tempo["bpm"] is None else f"{tempo['bpm']:.1f}",
            "-" if key is None else f"{key['name']} ({key['confidence']:.2f})",
            _level(loudness["integrated_lufs"]),
            _level(loudness["peak_dbfs"], " dBFS"),
        )
    console.print(table)
    console.print(f"features and spectrograms: {escape(location)}/")


def _level(value: float | None, unit: str = "") -> str:
    return "silent" if value is None else f"{value:.1f}{unit}"


def main(argv=None) -> int:
    return run_job_cli(Features(), CONFIG, argv, after=show)


if __name__ == "__main__":
    sys.exit(main())
