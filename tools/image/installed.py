"""Installed distributions as their wheels made them, whatever happened to them since.

The third-party layer is copied from @pypi's `site/` folder, where pip installed the
locked wheels. Other things write to that folder after the install: a library caching
compiled code beside its package (numba), a test run's bytecode, or a machine's set-up
adding its own certificate authority to certifi's bundle. None of it may reach an image,
or two builds of one commit differ and an image trusts what the lock never named.

So each file of a distribution (a `*.dist-info` folder with a RECORD) is checked against
the sha256 its RECORD gives when the layer is built:

- a file that matches is kept;
- a file that differs is taken from the distribution's wheel instead, checked against
  the same RECORD (a LayerError when no wheel holds it as recorded);
- a file inside a distribution's top-level folders that no RECORD lists is left out.

Files outside every distribution's folders (the scripts pip writes to `bin/`) are kept.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import pathlib
import re
import zipfile
from dataclasses import dataclass

from tools.image.layer import LayerError

_DIST_INFO = re.compile(r"^(?P<site>.+)/(?P<dist>[^/]+)\.dist-info/RECORD$")


@dataclass(frozen=True)
class Recorded:
    """What a distribution's RECORD says of one file: its hash, and whose it is."""

    sha256: str | None  # urlsafe base64 without padding, as in RECORD; None: no hash
    dist: str  # the dist-info folder's name without `.dist-info` (name-version)
    path: str  # the file's path inside the site folder, as the wheel holds it


def sha256_of(path: pathlib.Path) -> str:
    """A file's sha256 as RECORD writes it."""
    digest = hashlib.sha256()
    with open(path, "rb") as data:
        for chunk in iter(lambda: data.read(1 << 20), b""):
            digest.update(chunk)
    return _record_form(digest.digest())


def _record_form(digest: bytes) -> str:
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def read_records(files: dict[str, pathlib.Path]) -> tuple[dict[str, Recorded], set[str]]:
    """From the layer's files (path in the image -> source): every RECORDed file by its
    path in the image, and the image folders the distributions own (`<site>/<top>`).
    Only the installed distributions count: RECORDs of copies vendored inside a package
    (setuptools/_vendor/...) lie deeper than the site folder and are its files."""
    found = [(m["site"], m["dist"], files[dest]) for dest in files if (m := _DIST_INFO.match(dest))]
    if not found:
        return {}, set()
    site_root = min((site for site, _, _ in found), key=lambda site: site.count("/"))
    recorded: dict[str, Recorded] = {}
    owned: set[str] = set()
    for site, dist, record in found:
        if site != site_root:
            continue
        with open(record, newline="", encoding="utf-8") as rows:
            for row in csv.reader(rows):
                if not row or row[0].startswith("../") or "/../" in row[0]:
                    continue  # scripts pip placed outside the site folder
                path = row[0]
                hashed = row[1] if len(row) > 1 else ""
                sha = hashed.removeprefix("sha256=") if hashed.startswith("sha256=") else None
                recorded[f"{site}/{path}"] = Recorded(sha, dist, path)
                owned.add(f"{site}/{path.split('/', 1)[0]}")
    return recorded, owned


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "_", name).lower()


def wheel_for(dist: str, wheels: list[pathlib.Path]) -> pathlib.Path | None:
    """The wheel a distribution (`name-version`) was installed from, among `wheels`."""
    name, _, version = dist.rpartition("-")
    prefix = f"{_normalized(name)}-{version.lower()}-"
    for wheel in wheels:
        stem = wheel.name.lower()
        head, _, rest = stem.partition("-")
        if f"{_normalized(head)}-{rest}".startswith(prefix):
            return wheel
    return None


def _restore(
    dest: str, entry: Recorded, found: str, wheels: list[pathlib.Path], scratch: pathlib.Path
) -> pathlib.Path:
    differs = (
        f"/{dest} is not what {entry.dist}'s RECORD says (sha256 {entry.sha256}, found {found}"
        ": changed after pip installed it)"
    )
    hint = "; fetch @pypi again: bazel sync --only=pypi"
    wheel = wheel_for(entry.dist, wheels)
    if wheel is None:
        raise LayerError(f"{differs}, and no wheel of {entry.dist} was given to restore it{hint}")
    try:
        with zipfile.ZipFile(wheel) as archive:
            data = archive.read(entry.path)
    except KeyError:
        data = None
    except (OSError, zipfile.BadZipFile) as err:
        raise LayerError(f"{differs}, and {wheel} cannot be read: {err}{hint}") from None
    if data is None or _record_form(hashlib.sha256(data).digest()) != entry.sha256:
        raise LayerError(f"{differs}, and {wheel.name} does not hold it as recorded{hint}")
    restored = scratch / dest
    restored.parent.mkdir(parents=True, exist_ok=True)
    restored.write_bytes(data)
    return restored


def as_installed(
    files: dict[str, pathlib.Path], wheels: list[pathlib.Path], scratch: pathlib.Path
) -> tuple[dict[str, pathlib.Path], list[str]]:
    """The layer's files with each distribution's files as its wheel installed them (see
    the module docstring), and the paths left out because no RECORD lists them. Restored
    files are written under `scratch`, with the installed file's mode."""
    recorded, owned = read_records(files)
    if not recorded:
        return files, []
    checked: dict[str, pathlib.Path] = {}
    left_out: list[str] = []
    for dest, source in files.items():
        entry = recorded.get(dest)
        if entry is None:
            if _inside(dest, owned):
                left_out.append(dest)
            else:
                checked[dest] = source
            continue
        if entry.sha256 is None:
            checked[dest] = source
            continue
        found = sha256_of(source)
        if found == entry.sha256:
            checked[dest] = source
            continue
        restored = _restore(dest, entry, found, wheels, scratch)
        restored.chmod(source.stat().st_mode & 0o777)
        checked[dest] = restored
    return checked, sorted(left_out)


def _inside(dest: str, owned: set[str]) -> bool:
    """Whether `dest` lies inside one of the folders the distributions own."""
    parts = dest.split("/")
    return any("/".join(parts[:depth]) in owned for depth in range(1, len(parts)))
