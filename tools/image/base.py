"""Image bases: Debian 12 root filesystems built from Debian packages, cached as OCI layouts.

    bazel run //tools/image:base                 # build the bases that are missing
    bazel run //tools/image:base -- --force      # rebuild them (Debian's archive moved on)
    bazel run //tools/image:base -- --list       # what is cached, with digests
    bazel run //tools/image:base -- beam-sdk --from docker://apache/beam_python3.11_sdk@sha256:...

Each base is `debootstrap --variant=minbase` with Python 3.11 (the interpreter every
locked wheel was built for) and what its jobs need besides, made into one layer. The
bases live outside the repository, in $CADENZA_IMAGE_BASES (default
~/.cache/cadenza/image-bases/<name>): Debian's archive moves, so they are not pinned
here; each job image records its base's digest in a label instead.

`beam-sdk`, the base of jobs' Dataflow images, is not built but imported: Beam's Python
SDK image for the locked Beam version, by the digest the job's config pins
(profiles.dataflow.sdk_base_image), copied with skopeo from wherever it can be pulled.
"""

from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import dataclass

from tools.image.layout import Image, LayoutError, write_single_layer_image

SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
PYTHON = "usr/bin/python3.11"
BUILD_COMMAND = "bazel run //tools/image:base"


@dataclass(frozen=True)
class BaseSpec:
    packages: tuple[str, ...]
    description: str


BASES = {
    "python": BaseSpec(("python3", "ca-certificates"), "Debian 12 minbase and Python 3.11"),
    "python-ffmpeg": BaseSpec(
        ("python3", "ca-certificates", "ffmpeg"),
        "Debian 12 minbase, Python 3.11 and ffmpeg (for jobs that decode M4A/AAC)",
    ),
}

# Bases imported from a registry by digest (`--from`), not built here.
IMPORTED = {"beam-sdk": "Beam's Python SDK image, the base of jobs' Dataflow images"}
PINNED = re.compile(r"^(docker://)?[^@\s]+@(sha256:[0-9a-f]{64})$")

# Left out of the layer: package caches and logs that only debootstrap needed.
PRUNED = ("var/cache/apt/archives", "var/lib/apt/lists", "var/log", "tmp", "usr/share/man")


def bases_root() -> pathlib.Path:
    configured = os.environ.get("CADENZA_IMAGE_BASES")
    if configured:
        return pathlib.Path(configured)
    return pathlib.Path.home() / ".cache" / "cadenza" / "image-bases"


def missing_message(name: str, layout: pathlib.Path) -> str:
    if name in IMPORTED:
        return (
            f"image base {name!r} is not imported: {layout} has no OCI layout. Import "
            f"Beam's SDK image by the digest in profiles.dataflow.sdk_base_image: "
            f"`{BUILD_COMMAND} -- {name} --from docker://NAME@sha256:...`."
        )
    return (
        f"image base {name!r} is not built: {layout} has no OCI layout. Build it with "
        f"`{BUILD_COMMAND}` (debootstrap from Debian's archive, about a minute), or "
        "`./dev image-base`."
    )


def _debootstrap(spec: BaseSpec, rootfs: pathlib.Path) -> None:
    if shutil.which("debootstrap") is None:
        raise SystemExit(
            "base: debootstrap is not installed: apt-get install debootstrap (./dev setup does)"
        )
    command = [
        "debootstrap",
        "--variant=minbase",
        "--include=" + ",".join(spec.packages),
        SUITE,
        str(rootfs),
        MIRROR,
    ]
    print("base: " + " ".join(command), file=sys.stderr, flush=True)
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode != 0:
        tail = "\n".join(result.stdout.splitlines()[-20:])
        raise SystemExit(f"base: debootstrap failed ({result.returncode}):\n{tail}")
    if not (rootfs / PYTHON).exists():
        raise SystemExit(f"base: {rootfs}/{PYTHON} is missing: the locked wheels need Python 3.11")


def _prune(rootfs: pathlib.Path) -> None:
    for relative in PRUNED:
        folder = rootfs / relative
        if folder.is_dir():
            for child in folder.iterdir():
                if child.is_dir() and not child.is_symlink():
                    shutil.rmtree(child)
                else:
                    child.unlink()


def _tar_rootfs(rootfs: pathlib.Path, out: pathlib.Path) -> None:
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for root, dirs, files in os.walk(rootfs):
            dirs.sort()
            for name in sorted(dirs) + sorted(files):
                path = pathlib.Path(root, name)
                tar.add(path, arcname=path.relative_to(rootfs).as_posix(), recursive=False)


def build(name: str, root: pathlib.Path) -> Image:
    """debootstrap the base `name` and store it as an OCI layout under `root`."""
    spec = BASES[name]
    root.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=root, prefix=f".{name}-") as scratch:
        scratch = pathlib.Path(scratch)
        rootfs = scratch / "rootfs"
        _debootstrap(spec, rootfs)
        _prune(rootfs)
        layer_tar = scratch / "layer.tar"
        _tar_rootfs(rootfs, layer_tar)
        layout = scratch / "layout"
        config = {
            "created": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "config": {
                "Env": [
                    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                    "LANG=C.UTF-8",
                ],
                "Labels": {
                    "dev.cadenza.base.name": name,
                    "dev.cadenza.base.description": spec.description,
                },
            },
        }
        created_by = f"debootstrap --variant=minbase --include={','.join(spec.packages)} {SUITE}"
        write_single_layer_image(layout, layer_tar, config, created_by, f"cadenza-base-{name}")
        target = root / name
        old = scratch / "old"
        if target.exists():
            target.rename(old)
        layout.rename(target)
    image = Image.read(target)
    size = sum(p.stat().st_size for p in image.layer_paths())
    print(
        f"base {name}: {image.manifest_digest} ({size / 1e6:.0f} MB) in {target}, "
        f"built in {time.monotonic() - started:.0f} s",
        file=sys.stderr,
    )
    return image


def import_base(name: str, source: str, root: pathlib.Path, insecure: bool = False) -> Image:
    """Copy the image `source` (pinned by digest) into the cache as base `name`."""
    pinned = PINNED.match(source)
    if not pinned:
        raise SystemExit(
            f"base {name}: --from {source!r} is not pinned by digest (NAME@sha256:...)"
        )
    reference = source if source.startswith("docker://") else "docker://" + source
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root, prefix=f".{name}-") as scratch:
        layout = pathlib.Path(scratch) / "layout"
        command = [
            "skopeo",
            "copy",
            "--quiet",
            "--preserve-digests",
            "--dest-oci-accept-uncompressed-layers",
        ]
        if insecure:
            command.append("--src-tls-verify=false")
        result = subprocess.run(
            [*command, reference, f"oci:{layout}:{name}"], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise SystemExit(
                f"base {name}: skopeo could not copy {reference}:\n{result.stderr.strip()}"
            )
        image = Image.read(layout)
        if image.manifest_digest != pinned.group(2):
            raise SystemExit(
                f"base {name}: {reference} gave {image.manifest_digest}, not the pinned digest"
            )
        target = root / name
        if target.exists():
            target.rename(pathlib.Path(scratch) / "old")
        layout.rename(target)
    print(f"base {name}: {pinned.group(2)} imported from {reference}", file=sys.stderr)
    return Image.read(target)


def describe(name: str, root: pathlib.Path) -> str:
    try:
        image = Image.read(root / name)
    except LayoutError:
        return f"{name}: not built ({root / name})"
    size = sum(p.stat().st_size for p in image.layer_paths())
    built = image.config.get("created", "?")
    return f"{name}: {image.manifest_digest} {size / 1e6:.0f} MB, built {built}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "names", nargs="*", help=f"bases to build (default: all: {', '.join(BASES)})"
    )
    parser.add_argument(
        "--force", action="store_true", help="rebuild bases that are already cached"
    )
    parser.add_argument("--list", action="store_true", help="show the cached bases and exit")
    parser.add_argument(
        "--from", dest="source", help="import the one base named from this image, by digest"
    )
    parser.add_argument("--insecure", action="store_true", help="--from a registry without TLS")
    args = parser.parse_args(argv)
    known = [*BASES, *IMPORTED]
    unknown = [n for n in args.names if n not in known]
    if unknown:
        parser.error(f"unknown base(s) {', '.join(unknown)}; the bases are {', '.join(known)}")
    root = bases_root()
    if args.source or any(n in IMPORTED for n in args.names):
        if len(args.names) != 1 or args.names[0] not in IMPORTED or not args.source:
            parser.error(
                f"import one of {', '.join(IMPORTED)} at a time, with --from NAME@sha256:..."
            )
        import_base(args.names[0], args.source, root, args.insecure)
        return 0
    names = args.names or list(BASES)
    if args.list:
        for name in names:
            print(describe(name, root))
        return 0
    if os.geteuid() != 0:
        raise SystemExit("base: debootstrap needs root (it creates device nodes and sets owners)")
    for name in names:
        if (root / name / "index.json").exists() and not args.force:
            print(
                f"base {name}: cached ({describe(name, root)}); --force rebuilds it",
                file=sys.stderr,
            )
            continue
        build(name, root)
    return 0


if __name__ == "__main__":
    sys.exit(main())
