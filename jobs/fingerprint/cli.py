"""The fingerprint command line: build an index from audio files, identify excerpts.

    bazel run //jobs/fingerprint:cli -- index --db DIR PATH...
    bazel run //jobs/fingerprint:cli -- identify --db DIR --format jsonl QUERY...

`index` adds audio files, or folders of them (recursively), to the index at DIR; a
track's id is its file name without the extension. `identify` prints one JSON object
per query and line: query, match, offset_s, score, confidence, latency_s (decoding
included), plus `error` when the file could not be read. Relative paths are relative
to the directory the command was started from. A bad file is reported (which, and why)
and the others still run; the exit status is 1 if any file failed, 2 on usage errors.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import sys
import time
from collections.abc import Iterator, Sequence

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from cadenza.audio.decode import decode_audio
from cadenza.audio.errors import AudioDecodeError
from cadenza.audio.fingerprint import FINGERPRINT_SAMPLE_RATE, FingerprintIndex, IndexFormatError

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif"})
#: make added tracks durable at least this often (a crash loses at most this much work)
COMMIT_EVERY_S = 5.0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    base = pathlib.Path(os.environ.get("BUILD_WORKING_DIRECTORY", os.getcwd()))
    errors = Console(stderr=True, emoji=False, highlight=False, soft_wrap=True)
    try:
        index = FingerprintIndex.open(base / args.db, create=args.command == "index")
    except (FileNotFoundError, IndexFormatError) as error:
        errors.print(f"[red]error[/red] --db {escape(args.db)}: {escape(str(error))}")
        return 2
    if args.command == "index":
        return index_files(index, args.paths, base, errors)
    return identify_files(index, args.queries, base, errors, sys.stdout)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fingerprint", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    add = commands.add_parser("index", help="add audio files or folders to the index")
    add.add_argument("--db", required=True, help="the index folder (created if missing)")
    add.add_argument("paths", nargs="+", metavar="PATH", help="audio files or folders")
    find = commands.add_parser("identify", help="identify excerpts against the index")
    find.add_argument("--db", required=True, help="the index folder")
    find.add_argument("--format", choices=["jsonl"], default="jsonl", help="output format")
    find.add_argument("queries", nargs="+", metavar="QUERY", help="audio files to identify")
    return parser


def audio_files(paths: Sequence[str], base: pathlib.Path) -> Iterator[tuple[str, pathlib.Path]]:
    """(path as given or found, resolved path) of each file; folders are searched recursively."""
    for given in paths:
        path = base / given
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
            for file in found:
                yield str(pathlib.Path(given) / file.relative_to(path)), file
        else:
            yield given, path


def index_files(index, paths, base, errors: Console) -> int:
    files = list(audio_files(paths, base))
    failed: list[tuple[str, str]] = []
    added = skipped = 0
    seconds = 0.0
    last_commit = time.monotonic()
    with Progress(
        TextColumn("[bold]indexing[/bold] {task.completed}/{task.total}"),
        BarColumn(),
        TextColumn("{task.fields[file]}"),
        TimeRemainingColumn(),
        console=errors,
        disable=not errors.is_terminal,
    ) as progress:
        task = progress.add_task("index", total=len(files), file="")
        for given, path in files:
            progress.update(task, file=given)
            try:
                audio = decode_audio(path, FINGERPRINT_SAMPLE_RATE, name=given)
                index.add(path.stem, audio)
                seconds += audio.duration_s
            except AudioDecodeError as error:
                failed.append((given, error.reason))
                errors.print(f"[red]skipped[/red] {escape(given)}: {escape(error.reason)}")
            if time.monotonic() - last_commit > COMMIT_EVERY_S:
                report = index.commit()
                added, skipped = added + len(report.added), skipped + len(report.already_present)
                last_commit = time.monotonic()
            progress.advance(task)
        report = index.commit()
        added, skipped = added + len(report.added), skipped + len(report.already_present)
    errors.print(
        f"indexed {added} tracks ({seconds / 3600:.2f} h of audio) into {index.store.directory}; "
        f"{skipped} already there, {len(failed)} failed"
    )
    return 1 if failed else 0


def identify_files(index, queries, base, errors: Console, out) -> int:
    failed = 0
    for given, path in audio_files(queries, base):
        started = time.perf_counter()
        record = {"query": given}
        try:
            audio = decode_audio(path, FINGERPRINT_SAMPLE_RATE, name=given)
            record.update(index.identify(audio).to_json())
        except AudioDecodeError as error:
            failed += 1
            record.update(match=None, offset_s=None, score=0, confidence=0.0, error=error.reason)
            errors.print(f"[red]failed[/red] {escape(given)}: {escape(error.reason)}")
        record["latency_s"] = round(time.perf_counter() - started, 4)
        out.write(json.dumps(record) + "\n")
        out.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
