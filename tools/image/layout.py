"""OCI image layouts on disk: read an image from one, write an image into one.

An OCI layout is a folder with `oci-layout`, `index.json` and content-addressed
`blobs/sha256/<hex>`; skopeo, umoci and podman read it (`oci:DIR`), and a tar of it is
an `oci-archive` that `podman load` accepts. JSON documents are written canonically
(sorted keys, no spaces) so equal content always has an equal digest.
"""

from __future__ import annotations

import hashlib
import io
import json
import pathlib
import shutil
import tarfile

MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
REF_NAME = "org.opencontainers.image.ref.name"


class LayoutError(Exception):
    """A folder that is not a readable OCI image layout, or a blob that fails its digest."""


def canonical_json(document) -> bytes:
    """The bytes a JSON document is stored as: sorted keys, compact, UTF-8."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def file_digest(path: pathlib.Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as data:
        for chunk in iter(lambda: data.read(1 << 20), b""):
            sha.update(chunk)
    return "sha256:" + sha.hexdigest()


def blob_path(layout: pathlib.Path, digest: str) -> pathlib.Path:
    algorithm, _, hexdigest = digest.partition(":")
    return layout / "blobs" / algorithm / hexdigest


class Image:
    """An image read from a layout: its manifest and config, and where its blobs are."""

    def __init__(self, layout: pathlib.Path, manifest_digest: str, manifest: dict, config: dict):
        self.layout = layout
        self.manifest_digest = manifest_digest
        self.manifest = manifest
        self.config = config

    @classmethod
    def read(cls, layout: pathlib.Path) -> Image:
        """The layout's one image (its index must name exactly one manifest)."""
        layout = pathlib.Path(layout)
        index_file = layout / "index.json"
        if not index_file.is_file():
            raise LayoutError(f"{layout}: not an OCI image layout (no index.json)")
        manifests = json.loads(index_file.read_text())["manifests"]
        if len(manifests) != 1:
            raise LayoutError(f"{layout}: index.json names {len(manifests)} images, expected 1")
        digest = manifests[0]["digest"]
        manifest = json.loads(_read_blob(layout, digest))
        config = json.loads(_read_blob(layout, manifest["config"]["digest"]))
        return cls(layout, digest, manifest, config)

    def layer_paths(self) -> list[pathlib.Path]:
        return [blob_path(self.layout, layer["digest"]) for layer in self.manifest["layers"]]


def _read_blob(layout: pathlib.Path, digest: str) -> bytes:
    path = blob_path(layout, digest)
    if not path.is_file():
        raise LayoutError(f"{layout}: blob {digest} is missing")
    data = path.read_bytes()
    if "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise LayoutError(f"{layout}: blob {digest} does not match its digest")
    return data


class LayoutWriter:
    """Writes blobs into a new layout folder, then its index naming one manifest."""

    def __init__(self, layout: pathlib.Path):
        self.layout = pathlib.Path(layout)
        (self.layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (self.layout / "oci-layout").write_bytes(canonical_json({"imageLayoutVersion": "1.0.0"}))

    def add_bytes(self, data: bytes, media_type: str) -> dict:
        """Store `data` as a blob; returns its descriptor."""
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blob_path(self.layout, digest).write_bytes(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def add_file(self, source: pathlib.Path, media_type: str, digest: str | None = None) -> dict:
        """Copy a file in as a blob (its digest is computed unless given)."""
        digest = digest or file_digest(source)
        target = blob_path(self.layout, digest)
        if not target.exists():
            shutil.copyfile(source, target)
        return {"mediaType": media_type, "digest": digest, "size": target.stat().st_size}

    def finish(self, manifest: dict, ref_name: str) -> str:
        """Store the manifest, write index.json; returns the manifest's digest."""
        descriptor = self.add_bytes(canonical_json(manifest), MANIFEST_TYPE)
        descriptor["annotations"] = {REF_NAME: ref_name}
        index = {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [descriptor]}
        (self.layout / "index.json").write_bytes(canonical_json(index))
        return descriptor["digest"]


def write_single_layer_image(
    layout: pathlib.Path, layer_tar: pathlib.Path, config: dict, created_by: str, ref_name: str
) -> str:
    """A one-layer image (a base) in a new layout: the layer tar and `config` (its
    `config` section and any of `architecture`, `os`, `created`), completed with the
    rootfs and a history entry. Returns the manifest digest."""
    writer = LayoutWriter(layout)
    layer = writer.add_file(layer_tar, LAYER_TYPE)
    history = {"created_by": created_by}
    if "created" in config:
        history["created"] = config["created"]
    document = {
        "architecture": "amd64",
        "os": "linux",
        **config,
        "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
        "history": [history],
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST_TYPE,
        "config": writer.add_bytes(canonical_json(document), CONFIG_TYPE),
        "layers": [layer],
    }
    return writer.finish(manifest, ref_name)


def write_archive(layout: pathlib.Path, out: pathlib.Path, repo_tag: str) -> None:
    """A tar of the layout with fixed times and owners: an `oci-archive`, and also a
    `docker-archive`, since its top-level manifest.json names the same config and layer
    blobs under `repo_tag` (so both `podman load` and `docker load` take it)."""
    layout = pathlib.Path(layout)
    image = Image.read(layout)
    docker_manifest = [
        {
            "Config": blob_path(pathlib.Path(), image.manifest["config"]["digest"]).as_posix(),
            "RepoTags": [repo_tag],
            "Layers": [
                blob_path(pathlib.Path(), layer["digest"]).as_posix()
                for layer in image.manifest["layers"]
            ],
        }
    ]
    files = sorted(p for p in layout.rglob("*") if p.is_file())
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for path in files:
            with open(path, "rb") as data:
                tar.addfile(
                    _archive_entry(path.relative_to(layout).as_posix(), path.stat().st_size), data
                )
        extra = canonical_json(docker_manifest)
        tar.addfile(_archive_entry("manifest.json", len(extra)), io.BytesIO(extra))


def _archive_entry(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    return info
