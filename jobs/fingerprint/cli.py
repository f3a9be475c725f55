"""The fingerprint command line: build an index from audio files, identify excerpts.

    bazel run //jobs/fingerprint:cli -- index --db DIR PATH...
    bazel run //jobs/fingerprint:cli -- identify --db DIR --format jsonl QUERY...

`index` adds audio files, or folders of them (recursively), to the index at DIR; a
track's id is its file name without the extension, and a file whose id another file
already holds is refused. `identify` prints one JSON object per query and line: query,
match, offset_s, score, confidence, latency_s (decoding included), plus `also_in` when
the excerpt is in several tracks of the index (a tie) and `error` when the file could
not be read. Relative
paths are relative to the directory the command was started from. A bad file is
reported (which, and why) and the others still run; the exit status is 1 if any file
failed, 2 on usage errors.
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
from cadenza.audio.fingerprint import FINGERPRINT_SAMPLE_RATE, AddReport, FingerprintIndex

AUDIO_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aiff", ".aif"})
#: make added tracks durable at least this often (a crash loses at most this much work)
COMMIT_EVERY_S = 5.0
#: a file given again is its stored track when it matches that track this close to 0 s
SAME_START_S = 0.1


class TrackIdClash(Exception):
    """Two different files would get the same track id (their name without extension)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    base = pathlib.Path(os.environ.get("BUILD_WORKING_DIRECTORY", os.getcwd()))
    errors = Console(stderr=True, emoji=False, highlight=False, soft_wrap=True)
    db = args.db if "://" in args.db else base / args.db  # the store refuses remote paths
    try:
        index = FingerprintIndex.open(db, create=args.command == "index")
    except (FileNotFoundError, ValueError) as error:  # IndexFormatError, a remote path
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
    taken: dict[str, tuple[str, pathlib.Path]] = {}  # track id -> the file that gave it
    reports: list[AddReport] = []
    present = 0
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
        try:
            for given, path in files:
                progress.update(task, file=given)
                try:
                    present += _index_file(index, given, path, taken)
                except (AudioDecodeError, TrackIdClash, MemoryError) as error:
                    reason = getattr(error, "reason", None) or f"{type(error).__name__}: {error}"
                    failed.append((given, reason))
                    errors.print(f"[red]skipped[/red] {escape(given)}: {escape(reason)}")
                if time.monotonic() - last_commit > COMMIT_EVERY_S:
                    reports.append(index.commit())
                    last_commit = time.monotonic()
                progress.advance(task)
        finally:  # whatever happens, keep what was fingerprinted
            reports.append(index.commit())
    added = [track for report in reports for track in report.added]
    present += sum(len(report.already_present) for report in reports)
    hours = sum(track.duration_s for track in added) / 3600
    errors.print(
        f"indexed {len(added)} tracks ({hours:.2f} h of audio) into {index.store.directory}; "
        f"{present} already there, {len(failed)} failed"
    )
    return 1 if failed else 0


def _index_file(index, given: str, path: pathlib.Path, taken: dict) -> int:
    """Adds one file to `index`; 1 if its track is already there (the same audio), else 0.

    Raises `TrackIdClash` if its id is taken by another file in this run, or by a stored
    track with other audio (different audio under the same file name).
    """
    track_id = path.stem
    if track_id in taken:
        first_given, first_path = taken[track_id]
        if first_path.resolve() == path.resolve():
            return 1
        raise TrackIdClash(
            f"track id {track_id!r} is already taken by {first_given} in this run "
            "(a track's id is its file name without the extension): rename one of them"
        )
    audio = decode_audio(path, FINGERPRINT_SAMPLE_RATE, name=given)
    stored = index.track(track_id)
    if stored is not None:
        different = _how_audio_differs(index, stored, audio)
        if different:
            raise TrackIdClash(
                f"the index already holds a different track {track_id!r} ({different}): "
                "rename the file to add it"
            )
        taken[track_id] = (given, path)
        return 1
    index.add(track_id, audio)
    taken[track_id] = (given, path)
    return 0


def _how_audio_differs(index, stored, audio) -> str | None:
    """How `audio` differs from the stored track of its id, or None if it is that track:
    the same length and, when the track has fingerprints, found in the index as that
    track from its start (a length alone cannot tell two takes of a jingle apart)."""
    if abs(stored.duration_s - audio.duration_s) > 1e-6:
        return f"{stored.duration_s:.3f} s, this file is {audio.duration_s:.3f} s"
    if stored.n_hashes == 0:  # nothing to compare: a silent track is its length
        return None
    for match in index.identify_all(audio):
        if match.track == stored.track_id and abs(match.offset_s) <= SAME_START_S:
            return None
    return f"the same length, {stored.duration_s:.3f} s, but other audio"


def identify_files(index, queries, base, errors: Console, out) -> int:
    failed = 0
    if not index.store.tracks():
        where = escape(str(index.store.directory))
        errors.print(
            f"[yellow]note[/yellow] the index at {where} holds no tracks: nothing can match"
        )
    for given, path in audio_files(queries, base):
        started = time.perf_counter()
        record = {"query": given}
        try:
            audio = decode_audio(path, FINGERPRINT_SAMPLE_RATE, name=given)
            record.update(_identify(index, audio))
        except (AudioDecodeError, MemoryError) as error:
            failed += 1
            reason = getattr(error, "reason", None) or f"{type(error).__name__}: {error}"
            record.update(match=None, offset_s=None, score=0, confidence=0.0, error=reason)
            errors.print(f"[red]failed[/red] {escape(given)}: {escape(reason)}")
        record["latency_s"] = round(time.perf_counter() - started, 4)
        out.write(json.dumps(record) + "\n")
        out.flush()
    return 1 if failed else 0


def _identify(index: FingerprintIndex, audio) -> dict:
    """The JSON fields for one query. When the excerpt's audio is in several catalog
    tracks (identical copies, or a clip and the track it was cut from: a tie `identify`
    cannot break), `match` is the first and `also_in` the others, each with its offset."""
    match = index.identify(audio)
    if match.track is not None:
        return match.to_json()
    group = index.identify_all(audio)
    if len(group) < 2:
        return match.to_json()
    also_in = [{"match": m.track, "offset_s": m.to_json()["offset_s"]} for m in group[1:]]
    return {**group[0].to_json(), "also_in": also_in}


if __name__ == "__main__":
    sys.exit(main())
