"""Push a job's image to a registry with skopeo.

    bazel run //jobs/<job>:image_push -- --registry HOST/PATH [--tag TAG]
    bazel run //jobs/<job>:image_dataflow_push -- --registry HOST/PATH

The image goes to HOST/PATH/<job>:<tag> (<job>-dataflow for the Dataflow image; the
tag defaults to the image's git revision label), copied with its digest preserved: the
digest printed is the manifest digest Bazel built. Registries on this machine
(localhost, 127.0.0.1) are spoken to without TLS; `--insecure` does the same for
others. The pushed reference and the base it is built on are recorded in
.cadenza/images/<name>.json where `bazel run` was started; `deploy --profile dataflow`
finds the Dataflow image there.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

from tools.image.layout import Image

LOCAL_HOSTS = ("localhost", "127.0.0.1", "[::1]")
TAG_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")


class PushError(Exception):
    """A push that did not happen or did not keep the image's digest."""


def default_tag(image: Image) -> str:
    revision = image.config["config"].get("Labels", {}).get("dev.cadenza.git.revision", "")
    if not revision or revision == "unknown":
        return "latest"
    commit, _, dirty = revision.partition("-")
    return commit[:12] + (f"-{dirty}" if dirty else "")


def is_local(registry: str) -> bool:
    host = registry.split("/", 1)[0]
    return host.rsplit(":", 1)[0] in LOCAL_HOSTS or host in LOCAL_HOSTS


def push(layout: pathlib.Path, registry: str, name: str, tag: str, insecure: bool) -> str:
    """Copy the layout's image to REGISTRY/NAME:TAG; returns the pushed `REGISTRY/NAME@digest`."""
    if shutil.which("skopeo") is None:
        raise PushError("skopeo is not installed: apt-get install skopeo (./dev setup installs it)")
    if not TAG_PATTERN.match(tag):
        raise PushError(
            f"tag {tag!r} is not a valid image tag (letters, digits, _ . -, at most 128)"
        )
    image = Image.read(layout)
    repository = f"{registry.rstrip('/')}/{name}"
    with tempfile.TemporaryDirectory() as scratch:
        digest_file = pathlib.Path(scratch, "digest")
        command = [
            "skopeo",
            "copy",
            "--quiet",
            "--preserve-digests",
            "--digestfile",
            str(digest_file),
        ]
        if insecure or is_local(registry):
            command.append("--dest-tls-verify=false")
        command += [f"oci:{layout}", f"docker://{repository}:{tag}"]
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode != 0:
            raise PushError(
                f"skopeo could not push to {repository}:{tag}:\n{result.stderr.strip()}"
            )
        pushed = digest_file.read_text().strip()
    if pushed != image.manifest_digest:
        raise PushError(
            f"the registry holds {pushed}, but the image built is {image.manifest_digest}"
        )
    return f"{repository}@{pushed}"


def record(name: str, image: Image, reference: str, tag: str) -> pathlib.Path | None:
    """Note the pushed reference, and the base it is built on, in .cadenza/images/<name>.json."""
    workspace = os.environ.get("BUILD_WORKING_DIRECTORY")
    if not workspace:
        return None
    labels = image.config["config"].get("Labels", {})
    entry = {
        "name": name,
        "reference": reference,
        "tag": tag,
        "base_name": labels.get("dev.cadenza.base.name"),
        "base_digest": labels.get("dev.cadenza.base.digest"),
    }
    path = pathlib.Path(workspace, ".cadenza", "images", f"{name}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(entry, indent=2) + "\n")
    return path


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--registry", required=True, help="HOST[:PORT]/PATH to push under")
    parser.add_argument("--tag", help="the tag (default: the image's git revision, 12 characters)")
    parser.add_argument("--insecure", action="store_true", help="no TLS (always so for localhost)")
    parser.add_argument("--name", required=True, help=argparse.SUPPRESS)
    parser.add_argument("--layout", required=True, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    layout = pathlib.Path(args.layout).resolve()
    image = Image.read(layout)
    tag = args.tag or default_tag(image)
    try:
        reference = push(layout, args.registry, args.name, tag, args.insecure)
    except PushError as error:
        print(f"image_push {args.name}: {error}", file=sys.stderr)
        return 1
    where = record(args.name, image, reference, tag)
    print(reference)
    print(
        f"tagged {args.registry.rstrip('/')}/{args.name}:{tag}"
        + (f"; recorded in {where}" if where else ""),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
