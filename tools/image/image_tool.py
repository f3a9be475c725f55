"""The tool behind tools/image/image.bzl: builds layers and images, and inspects them.

    image_tool layer --spec SPEC.json --out LAYER.tar --info LAYER.json
    image_tool assemble --base BASE_LAYOUT --base-name NAME --layer LAYER.tar LAYER.json ...
                        --settings SETTINGS.json --job-config job.yaml --status stable-status.txt
                        --out-layout DIR --out-archive IMAGE.tar
    image_tool inspect LAYOUT

A spec is JSON: `files`, a list of [source, path in the image], and optionally
`wheels`, the wheels the distributions among them were installed from; see layer.py for
what makes a layer reproducible, installed.py for how distributions are checked against
their wheels, and assemble.py for the image config.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import pathlib
import sys
import tempfile

from tools.image.assemble import LABEL_PREFIX, BuiltLayer, assemble, git_revision, read_settings
from tools.image.base import missing_message
from tools.image.installed import as_installed
from tools.image.layer import LayerError, collect, write_layer
from tools.image.layout import Image, LayoutError, write_archive


def _layer(args) -> int:
    spec = json.loads(pathlib.Path(args.spec).read_text())
    wheels = [pathlib.Path(w) for w in spec.get("wheels", [])]
    try:
        with tempfile.TemporaryDirectory(prefix="cadenza-layer-") as scratch:
            files, left_out = as_installed(
                collect([tuple(pair) for pair in spec["files"]]), wheels, pathlib.Path(scratch)
            )
            info = write_layer(files, pathlib.Path(args.out))
    except LayerError as error:
        raise SystemExit(f"image layer {args.out}: {error}") from None
    # what the layer does not hold although it lay in @pypi: caches no RECORD lists
    record = dataclasses.asdict(info) | {"comment": spec["comment"], "left_out": left_out}
    pathlib.Path(args.info).write_text(json.dumps(record, sort_keys=True) + "\n")
    return 0


def _assemble(args) -> int:
    base_layout = pathlib.Path(args.base)
    try:
        base = Image.read(base_layout)
    except LayoutError as error:
        raise SystemExit(missing_message(args.base_name, base_layout) + f"\n({error})") from None
    layers = []
    for tar, info_file in args.layer:
        info = json.loads(pathlib.Path(info_file).read_text())
        layers.append(BuiltLayer(pathlib.Path(tar), info["digest"], info["comment"]))
    settings = read_settings(pathlib.Path(args.settings))
    labels = dict(settings.labels)
    labels[LABEL_PREFIX + "git.revision"] = git_revision(pathlib.Path(args.status).read_text())
    labels[LABEL_PREFIX + "config.digest"] = (
        "sha256:" + hashlib.sha256(pathlib.Path(args.job_config).read_bytes()).hexdigest()
    )
    labels[LABEL_PREFIX + "base.name"] = args.base_name
    settings = dataclasses.replace(settings, labels=labels)
    out = pathlib.Path(args.out_layout)
    digest = assemble(base, layers, settings, out)
    write_archive(out, pathlib.Path(args.out_archive), settings.ref_name)
    print(f"{settings.ref_name}: {digest}", file=sys.stderr)
    return 0


def _megabytes(size: int) -> str:
    return f"{size / 1e6:,.1f} MB"


def inspect_report(layout: pathlib.Path) -> str:
    """A plain-text report of an image: each layer's size and what it holds, and the labels."""
    image = Image.read(layout)
    history = [h for h in image.config.get("history", []) if not h.get("empty_layer")]
    lines = [f"image {layout}", f"  manifest {image.manifest_digest}", ""]
    lines.append(f"  {'#':>2}  {'size':>12}  {'digest':<19}  contents")
    total = 0
    for number, layer in enumerate(image.manifest["layers"], 1):
        total += layer["size"]
        comment = history[number - 1].get("created_by", "") if number <= len(history) else ""
        lines.append(
            f"  {number:>2}  {_megabytes(layer['size']):>12}  {layer['digest'][:19]}  {comment}"
        )
    lines.append(f"      {_megabytes(total):>12}  total (uncompressed layers)")
    config = image.config["config"]
    lines += [
        "",
        f"  entrypoint {' '.join(config.get('Entrypoint') or [])} "
        f"[{' '.join(config.get('Cmd') or [])}]",
    ]
    for key, value in sorted((config.get("Labels") or {}).items()):
        lines.append(f"  label {key}={value}")
    return "\n".join(lines)


def _inspect(args) -> int:
    print(inspect_report(pathlib.Path(args.layout)))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    layer = commands.add_parser("layer", help="build one layer tar from a spec")
    layer.add_argument("--spec", required=True)
    layer.add_argument("--out", required=True)
    layer.add_argument("--info", required=True)
    layer.set_defaults(run=_layer)
    build = commands.add_parser("assemble", help="a base and layers into an OCI layout and archive")
    build.add_argument("--base", required=True)
    build.add_argument("--base-name", required=True)
    build.add_argument("--layer", nargs=2, action="append", default=[], metavar=("TAR", "INFO"))
    build.add_argument("--settings", required=True)
    build.add_argument("--job-config", required=True)
    build.add_argument("--status", required=True)
    build.add_argument("--out-layout", required=True)
    build.add_argument("--out-archive", required=True)
    build.set_defaults(run=_assemble)
    show = commands.add_parser("inspect", help="each layer's size and contents, and the labels")
    show.add_argument("layout")
    show.set_defaults(run=_inspect)
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
