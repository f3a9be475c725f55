"""One image layer: a reproducible, uncompressed tar of files placed at fixed paths.

A layer is described by a spec: pairs of (source path, path in the image), where a
source may be a file or a directory (walked, symlinks followed). The tar it becomes
depends only on the files' contents, names and executable bits: entries are sorted,
every parent directory is listed, times are zero, owners are root, modes are 0644 or
0755, and nothing of the build's own paths leaks in. Build droppings that would make
it vary (bytecode caches, pip's `direct_url.json`, which records where the wheel lay)
are left out.
"""

from __future__ import annotations

import hashlib
import io
import os
import pathlib
import stat
import tarfile
from dataclasses import dataclass

LEFT_OUT_DIRS = frozenset({"__pycache__"})
LEFT_OUT_FILES = frozenset({"direct_url.json"})
LEFT_OUT_SUFFIXES = (".pyc",)


@dataclass(frozen=True)
class LayerInfo:
    """What a written layer is: its digest (uncompressed, so also its diff id) and size."""

    digest: str
    size: int
    files: int


class LayerError(Exception):
    """A layer spec that cannot be built: a missing source, or two sources for one path."""


def _left_out(name: str) -> bool:
    return name in LEFT_OUT_FILES or name.endswith(LEFT_OUT_SUFFIXES)


def collect(spec: list[tuple[str, str]]) -> dict[str, pathlib.Path]:
    """Every file of the layer: its path in the image (no leading slash) -> its source."""
    files: dict[str, pathlib.Path] = {}

    def place(dest: str, source: pathlib.Path) -> None:
        if dest in files and files[dest].resolve() != source.resolve():
            raise LayerError(f"/{dest} comes from two sources: {files[dest]} and {source}")
        files[dest] = source

    for source_name, dest_name in spec:
        source = pathlib.Path(source_name)
        dest = dest_name.strip("/")
        if not dest or ".." in dest.split("/"):
            raise LayerError(f"{source_name}: bad path in the image {dest_name!r}")
        if source.is_dir():
            for root, dirs, names in os.walk(source, followlinks=True):
                dirs[:] = [d for d in dirs if d not in LEFT_OUT_DIRS]
                relative = pathlib.Path(root).relative_to(source).as_posix()
                prefix = dest if relative == "." else f"{dest}/{relative}"
                for name in names:
                    if not _left_out(name):
                        place(f"{prefix}/{name}", pathlib.Path(root, name))
        elif source.is_file():
            if not _left_out(source.name):
                place(dest, source)
        else:
            raise LayerError(f"{source_name}: no such file or directory (for /{dest})")
    return files


def _parents(paths) -> set[str]:
    parents = set()
    for path in paths:
        parts = path.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            parents.add("/".join(parts[:depth]))
    return parents


def _entry(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


class _HashingWriter(io.RawIOBase):
    """A write-only file that hashes and counts what passes through it."""

    def __init__(self, target):
        self._target = target
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.size

    def write(self, data) -> int:
        self._target.write(data)
        self.sha256.update(data)
        self.size += len(data)
        return len(data)


def write_layer(files: dict[str, pathlib.Path], out: pathlib.Path) -> LayerInfo:
    """Write `files` (from `collect`) as a tar to `out`; returns its digest and size."""
    directories = _parents(files)
    with open(out, "wb") as raw:
        writer = _HashingWriter(raw)
        with tarfile.open(fileobj=writer, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for name in sorted(directories | set(files)):
                if name in directories:
                    tar.addfile(_entry(name + "/", tarfile.DIRTYPE, 0o755))
                    continue
                source = files[name]
                executable = os.stat(source).st_mode & stat.S_IXUSR
                with open(source, "rb") as data:
                    size = os.fstat(data.fileno()).st_size
                    info = _entry(name, tarfile.REGTYPE, 0o755 if executable else 0o644, size)
                    tar.addfile(info, data)
    return LayerInfo(
        digest="sha256:" + writer.sha256.hexdigest(), size=writer.size, files=len(files)
    )
