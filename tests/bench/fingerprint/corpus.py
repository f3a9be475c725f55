"""The fingerprinting benchmark's corpus: reference tracks and a never-indexed set.

Built on this machine from Debian packages, with a fixed seed, and cached outside the
repository (default `~/.cache/cadenza/fingerprint-corpus/<size>/corpus/`, or under
`$CADENZA_FINGERPRINT_CORPUS`). The cache is keyed by a manifest of every input (the
plan, the packages' versions, each source file's name and size): it is rebuilt only
when one of them changes.

Sizes:

- `full` (`./dev bench`, which installs the packages): references are real recorded
  music, all of `asc-music` (3 MP3 tracks), all of `planetblupi-music-ogg` (10 long,
  looped Ogg tracks), most of `ufoai-music` (Ogg tracks from inside its
  `0music.pk3` zip), plus every MIDI file of `openttd-openmsx` rendered with
  fluidsynth. The never-indexed set is `HELD_OUT_UFOAI` of the ufoai tracks, drawn
  with `SEED`: real recorded music of the same kind as the references, disjoint
  from them. ufoai's two `dynamictest-*` files are left out: they are short test
  cuts that may repeat other tracks' audio.
- `smoke` (CI): only what `./dev setup` installs, the openmsx MIDI renders; a few of
  them are held out for the not-indexed queries.

Recorded tracks are kept in their original encoding (MP3, Ogg Vorbis), so each system
decodes them itself; MIDI renders are stored as FLAC.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pathlib
import random
import shutil
import subprocess
import tempfile
import zipfile

import attrs
import soundfile as sf

from cadenza.devtools.samples import MIDI_DIR, SOUNDFONT, render_midi

FORMAT_VERSION = 1
SEED = 20240611

ASC_DIR = pathlib.Path("/usr/share/games/asc/music")
PLANETBLUPI_DIR = pathlib.Path("/usr/share/planetblupi/music")
UFOAI_ZIP = pathlib.Path("/usr/share/games/ufoai/base/0music.pk3")

# ufoai tracks never indexed in the full corpus (drawn with SEED).
HELD_OUT_UFOAI = 16
# MIDI renders in the smoke corpus: references and never-indexed ones (drawn with SEED).
SMOKE_MIDI_REFERENCES = 6
SMOKE_MIDI_HELD_OUT = 3

# Debian packages each size reads, for the manifest and for a clear error when missing.
PACKAGES = {
    "full": ("asc-music", "planetblupi-music-ogg", "ufoai-music", "openttd-openmsx"),
    "smoke": ("openttd-openmsx",),
}
RENDER_PACKAGES = ("fluidsynth", "timgm6mb-soundfont")


class CorpusError(RuntimeError):
    """The corpus cannot be built: a package or file it reads is missing."""


@attrs.frozen
class Track:
    """One audio file of the corpus."""

    track_id: str  # "<source>/<name>", e.g. "ufoai/PsymongN1"
    path: pathlib.Path
    duration_s: float
    source: str  # the Debian package it comes from
    recorded: bool  # real recorded music (True) or a MIDI render (False)


@attrs.frozen
class Corpus:
    """The reference tracks (indexed) and the held-out tracks (never indexed)."""

    size: str
    root: pathlib.Path
    digest: str  # of the manifest: changes whenever any input changes
    references: tuple[Track, ...]
    held_out: tuple[Track, ...]

    @property
    def reference_seconds(self) -> float:
        return sum(track.duration_s for track in self.references)

    def track(self, track_id: str) -> Track:
        for track in (*self.references, *self.held_out):
            if track.track_id == track_id:
                return track
        raise KeyError(f"corpus {self.size}: no track {track_id!r}")

    def describe(self) -> dict:
        """The composition, for the report: counts and hours per source and set."""

        def summary(tracks: tuple[Track, ...]) -> dict:
            sources: dict[str, dict] = {}
            for track in tracks:
                entry = sources.setdefault(track.source, {"tracks": 0, "hours": 0.0})
                entry["tracks"] += 1
                entry["hours"] += track.duration_s / 3600
            return {
                "tracks": len(tracks),
                "hours": sum(t.duration_s for t in tracks) / 3600,
                "longest_s": max((t.duration_s for t in tracks), default=0.0),
                "sources": sources,
            }

        return {
            "size": self.size,
            "digest": self.digest,
            "references": summary(self.references),
            "held_out": summary(self.held_out),
            "held_out_tracks": [t.track_id for t in self.held_out],
        }


def default_root(size: str) -> pathlib.Path:
    base = os.environ.get("CADENZA_FINGERPRINT_CORPUS")
    if base:
        return pathlib.Path(base) / size
    return pathlib.Path.home() / ".cache" / "cadenza" / "fingerprint-corpus" / size


def build_corpus(size: str, root: pathlib.Path | None = None) -> Corpus:
    """The corpus of `size` ("full" or "smoke"), built into `root/corpus` unless cached."""
    if size not in PACKAGES:
        raise ValueError(f"corpus size: expected one of {sorted(PACKAGES)}, got {size!r}")
    folder = (root or default_root(size)) / "corpus"
    plan = _plan(size)
    manifest = {"format": FORMAT_VERSION, "size": size, "seed": SEED, "plan": plan}
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()[:16]
    index = folder / "corpus.json"
    if index.exists():
        stored = json.loads(index.read_text())
        if stored.get("digest") == digest:
            return _load(size, folder, stored)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = pathlib.Path(tempfile.mkdtemp(prefix="corpus-", dir=folder.parent))
    try:
        tracks = _materialise(plan, staging)
        payload = {"digest": digest, "manifest": manifest, "tracks": tracks}
        (staging / "corpus.json").write_text(json.dumps(payload, indent=1, sort_keys=True))
        if folder.exists():
            shutil.rmtree(folder)
        staging.rename(folder)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return _load(size, folder, json.loads(index.read_text()))


def _load(size: str, folder: pathlib.Path, stored: dict) -> Corpus:
    def track(entry: dict) -> Track:
        return Track(
            track_id=entry["track_id"],
            path=folder / entry["file"],
            duration_s=entry["duration_s"],
            source=entry["source"],
            recorded=entry["recorded"],
        )

    sets = [entry["set"] for entry in stored["tracks"]]
    tracks = [track(entry) for entry in stored["tracks"]]
    return Corpus(
        size=size,
        root=folder,
        digest=stored["digest"],
        references=tuple(t for t, s in zip(tracks, sets, strict=True) if s == "reference"),
        held_out=tuple(t for t, s in zip(tracks, sets, strict=True) if s == "held_out"),
    )


def _package_version(package: str) -> str:
    result = subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}|${Version}", package],
        capture_output=True,
        text=True,
        check=False,
    )
    status, _, version = result.stdout.partition("|")
    if result.returncode != 0 or "install ok installed" not in status:
        raise CorpusError(
            f"Debian package {package!r} is not installed: the fingerprint benchmark's "
            "corpus needs it (`./dev bench` installs it)"
        )
    return version


def _files(folder: pathlib.Path, pattern: str) -> list[pathlib.Path]:
    found = sorted(folder.glob(pattern))
    if not found:
        raise CorpusError(f"no {pattern} files in {folder}: is its package installed?")
    return found


def _plan(size: str) -> dict:
    """Every input of the corpus, with the split decided: the manifest's content."""
    versions = {p: _package_version(p) for p in (*PACKAGES[size], *RENDER_PACKAGES)}
    rng = random.Random(SEED)
    midi = [p.stem for p in _files(MIDI_DIR, "*.mid")]
    items: list[dict] = []

    def add(kind: str, source: str, name: str, where: str, set_: str, stat: int) -> None:
        items.append(
            {
                "kind": kind,
                "source": source,
                "name": name,
                "from": where,
                "set": set_,
                "bytes": stat,
            }
        )

    if size == "smoke":
        shuffled = midi[:]
        rng.shuffle(shuffled)
        held_out = shuffled[:SMOKE_MIDI_HELD_OUT]
        references = shuffled[SMOKE_MIDI_HELD_OUT : SMOKE_MIDI_HELD_OUT + SMOKE_MIDI_REFERENCES]
        for name, set_ in [(n, "held_out") for n in held_out] + [
            (n, "reference") for n in references
        ]:
            path = MIDI_DIR / f"{name}.mid"
            add("midi", "openttd-openmsx", name, str(path), set_, path.stat().st_size)
    else:
        for path in _files(ASC_DIR, "*.mp3"):
            add("file", "asc-music", path.stem, str(path), "reference", path.stat().st_size)
        for path in _files(PLANETBLUPI_DIR, "*.ogg"):
            add(
                "file",
                "planetblupi-music-ogg",
                path.stem,
                str(path),
                "reference",
                path.stat().st_size,
            )
        with zipfile.ZipFile(UFOAI_ZIP) as archive:
            members = sorted(
                (m for m in archive.infolist() if m.filename.endswith(".ogg")),
                key=lambda m: m.filename,
            )
        members = [
            m for m in members if not pathlib.PurePath(m.filename).stem.startswith("dynamictest")
        ]
        shuffled = members[:]
        rng.shuffle(shuffled)
        held = {m.filename for m in shuffled[:HELD_OUT_UFOAI]}
        for member in members:
            set_ = "held_out" if member.filename in held else "reference"
            add(
                "zip",
                "ufoai-music",
                pathlib.PurePath(member.filename).stem,
                member.filename,
                set_,
                member.file_size,
            )
        for name in midi:
            path = MIDI_DIR / f"{name}.mid"
            add("midi", "openttd-openmsx", name, str(path), "reference", path.stat().st_size)
    return {"packages": versions, "soundfont": str(SOUNDFONT), "items": items}


SOURCE_LABELS = {
    "asc-music": "asc",
    "planetblupi-music-ogg": "planetblupi",
    "ufoai-music": "ufoai",
    "openttd-openmsx": "openmsx",
}


def _materialise(plan: dict, staging: pathlib.Path) -> list[dict]:
    """Writes every planned track under `staging`; returns their index entries."""
    entries = []
    archive = zipfile.ZipFile(UFOAI_ZIP) if any(i["kind"] == "zip" for i in plan["items"]) else None
    try:
        for item in plan["items"]:
            label = SOURCE_LABELS[item["source"]]
            folder = staging / ("references" if item["set"] == "reference" else "held_out") / label
            folder.mkdir(parents=True, exist_ok=True)
            if item["kind"] == "file":
                source = pathlib.Path(item["from"])
                target = folder / source.name
                shutil.copyfile(source, target)
            elif item["kind"] == "zip":
                target = folder / pathlib.PurePath(item["from"]).name
                target.write_bytes(archive.read(item["from"]))
            else:
                target = folder / f"{item['name']}.flac"
                _render_flac(pathlib.Path(item["from"]), target)
            entries.append(
                {
                    "track_id": f"{label}/{item['name']}",
                    "file": str(target.relative_to(staging)),
                    "duration_s": sf.info(str(target)).duration,
                    "source": item["source"],
                    "recorded": item["kind"] != "midi",
                    "set": item["set"],
                }
            )
    finally:
        if archive is not None:
            archive.close()
    return entries


def _render_flac(midi: pathlib.Path, target: pathlib.Path) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        wav = pathlib.Path(scratch) / "render.wav"
        render_midi(midi, wav)
        samples, rate = sf.read(wav, dtype="float32")
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="FLAC", subtype="PCM_16")
    target.write_bytes(buffer.getvalue())
