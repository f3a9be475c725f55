"""Atomic writes (local, and gs:// on the storage emulator) and provenance with them."""

import gzip
import hashlib
import io
import json
import os
import threading
import tracemalloc
import zipfile

import pytest
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from google.cloud import storage

from cadenza.runtime import local_files
from cadenza.runtime.gcs_clients import bucket_handle, gcs_client, release_gcs_client
from cadenza.runtime.storage import (
    COMPRESSED_SUFFIXES,
    detect_compression,
    digest,
    exists,
    list_folder,
    open_for_reading,
    read_bytes,
    read_provenance,
    write_atomically,
    write_provenance,
)


def test_readers_see_the_old_or_the_new_file_never_a_part(tmp_path):
    target = tmp_path / "deep" / "out.bin"
    old, new = b"a" * 4_000_000, b"b" * 4_000_000
    write_atomically(str(target), old)
    seen, stop = set(), threading.Event()

    def read():
        while not stop.is_set():
            seen.add(target.read_bytes()[::500_000])

    reader = threading.Thread(target=read)
    reader.start()
    for _ in range(20):
        write_atomically(str(target), new)
        write_atomically(str(target), old)
    stop.set()
    reader.join()
    assert seen <= {old[::500_000], new[::500_000]}
    assert [p.name for p in target.parent.iterdir()] == ["out.bin"]


def test_provenance_round_trip_and_digest(tmp_path):
    path = tmp_path / "x.json"
    write_atomically(str(path), b"hello")
    write_provenance(str(path), {"job": "j", "job_version": "3"})
    assert read_provenance(str(path)) == {"job": "j", "job_version": "3"}
    assert read_provenance(str(tmp_path / "none.json")) is None
    assert (
        digest(str(path))
        == "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    )


def test_local_provenance_is_an_xattr_written_with_the_file(tmp_path):
    target = tmp_path / "out" / "x.json"
    record = {"job": "j", "trace_id": "t"}
    assert write_atomically(str(target), b"{}", overwrite=False, provenance=record)
    assert json.loads(os.getxattr(target, "user.cadenza-provenance")) == record
    assert read_provenance(str(target)) == record
    assert [p.name for p in target.parent.iterdir()] == ["x.json"]  # no sidecar, no temporary
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # as open() would make it
    # a second writer is refused, and the first one's provenance stays
    assert not write_atomically(str(target), b"[]", overwrite=False, provenance={"job": "k"})
    assert read_provenance(str(target)) == record and target.read_bytes() == b"{}"
    # replacing replaces both, together
    assert write_atomically(str(target), b"[]", provenance={"job": "k"})
    assert read_provenance(str(target)) == {"job": "k"} and target.read_bytes() == b"[]"
    assert [p.name for p in target.parent.iterdir()] == ["x.json"]


def test_a_filesystem_that_refuses_xattrs_is_detected():
    # /proc files take no user attributes: the refusal is reported, not raised
    assert not local_files.set_attributes("/proc/self/status", {"a": b"1"}, "/proc/self")
    assert "/proc/self" in local_files._no_attributes


def test_without_xattrs_provenance_goes_to_a_sidecar(tmp_path, monkeypatch):
    # No filesystem here refuses user xattrs (tmpfs takes them too), so the folder is
    # marked as the refusal above marks /proc.
    monkeypatch.setattr(local_files, "_no_attributes", {str(tmp_path)})
    target = tmp_path / "x.json"
    assert write_atomically(str(target), b"{}", overwrite=False, provenance={"job": "j"})
    assert json.loads((tmp_path / "x.json.provenance.json").read_text()) == {"job": "j"}
    assert read_provenance(str(target)) == {"job": "j"}
    # a kept output whose sidecar was lost (a crash between the two) gets one
    (tmp_path / "x.json.provenance.json").unlink()
    assert not write_atomically(str(target), b"[]", overwrite=False, provenance={"job": "k"})
    assert read_provenance(str(target)) == {"job": "k"}


def test_provenance_over_the_xattr_size_limit_goes_to_a_sidecar(tmp_path):
    record = {"job": "j", "inputs": {f"input_{n}": "sha256:" + "0" * 64 for n in range(100)}}
    target = tmp_path / "x.json"
    assert write_atomically(str(target), b"{}", overwrite=False, provenance=record)
    assert read_provenance(str(target)) == record
    assert (tmp_path / "x.json.provenance.json").exists()
    assert local_files.read_attribute(str(target), "cadenza-provenance") is None
    # the folder still takes attributes for records that fit
    assert write_atomically(str(tmp_path / "y.json"), b"{}", provenance={"job": "j"})
    assert not (tmp_path / "y.json.provenance.json").exists()


BIG_RECORD = {"job": "j", "inputs": {f"input_{n}": "sha256:" + "0" * 64 for n in range(120)}}


class Crash(Exception):
    """The process dying at this point."""


def crash_after_sidecar(monkeypatch, module, name):
    """Makes the sidecar's write (write_atomically on a .provenance.json path) the last
    thing that happens: any write of another path after it raises Crash."""
    from cadenza.runtime import storage as storage_module

    real = getattr(module, name)
    sidecars = []

    def wrapped(*args, **kwargs):
        if sidecars:
            raise Crash
        return real(*args, **kwargs)

    real_sidecar = storage_module._write_sidecar

    def sidecar(*args, **kwargs):
        written = real_sidecar(*args, **kwargs)
        sidecars.append(args[0])
        return written

    monkeypatch.setattr(module, name, wrapped)
    monkeypatch.setattr(storage_module, "_write_sidecar", sidecar)


@pytest.mark.parametrize("where", ["local", "gcs"])
def test_an_output_never_exists_without_its_sidecar(where, tmp_path, monkeypatch, request):
    """The sidecar goes first: a crash between the two leaves no output (so the message
    runs again), never an output without provenance (taken for someone else's)."""
    if where == "gcs":
        request.getfixturevalue("emulators")
        path = f"gs://{request.getfixturevalue('gcs_bucket')}/out/x.bin"
        from google.cloud.storage import Blob

        crash_after_sidecar(monkeypatch, Blob, "upload_from_string")
    else:
        path = str(tmp_path / "x.bin")
        crash_after_sidecar(monkeypatch, os, "link")
    with pytest.raises(Crash):
        write_atomically(path, b"first", overwrite=False, provenance=BIG_RECORD)
    assert not exists(path) and exists(path + ".provenance.json")
    monkeypatch.undo()
    # the next attempt writes the output and replaces the sidecar the crash left
    second = {**BIG_RECORD, "attempt": 2}
    assert write_atomically(path, b"second", overwrite=False, provenance=second)
    assert read_bytes(path) == b"second" and read_provenance(path) == second


def test_a_kept_output_without_provenance_gets_a_sidecar(tmp_path):
    target = tmp_path / "x.json"
    target.write_bytes(b"{}")  # written before provenance, or by hand
    assert not write_atomically(str(target), b"[]", overwrite=False, provenance={"job": "j"})
    assert read_provenance(str(target)) == {"job": "j"} and target.read_bytes() == b"{}"


def test_create_only_works_without_unnamed_files(tmp_path, monkeypatch):
    # where O_TMPFILE is refused, a hidden temporary name is linked and removed
    monkeypatch.setattr(local_files, "_no_unnamed_files", {str(tmp_path)})
    target = str(tmp_path / "x.json")
    assert write_atomically(target, b"1", overwrite=False, provenance={"job": "j"})
    assert not write_atomically(target, b"2", overwrite=False)
    assert read_provenance(target) == {"job": "j"}
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_create_only_in_a_forked_child_links_through_its_own_fds(tmp_path):
    write_atomically(str(tmp_path / "parent.json"), b"p", overwrite=False)
    pid = os.fork()
    if pid == 0:
        try:
            ok = write_atomically(str(tmp_path / "child.json"), b"c", overwrite=False)
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert (tmp_path / "child.json").read_bytes() == b"c"


def test_local_create_only_keeps_an_existing_file(tmp_path):
    target = str(tmp_path / "out.bin")
    assert write_atomically(target, b"first", overwrite=False)
    assert not write_atomically(target, b"second", overwrite=False)
    assert (tmp_path / "out.bin").read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_gcs_writes_are_single_uploads_with_generation_preconditions(emulators, pubsub, gcs_bucket):
    uploads = pubsub.subscription(
        pubsub.unique("uploads"), f"projects/{emulators.project}/topics/{emulators.uploads_topic}"
    )
    path = f"gs://{gcs_bucket}/out/x.bin"
    assert write_atomically(path, b"first", overwrite=False, provenance={"job": "j"})
    assert read_provenance(path) == {"job": "j"}  # object metadata, in the same upload
    assert not write_atomically(path, b"second", overwrite=False)  # refused: it exists
    with FileSystems.open(path) as handle:
        assert handle.read() == b"first"
    assert write_atomically(path, b"third")  # replaces the generation it read
    with FileSystems.open(path) as handle:
        assert handle.read() == b"third"
    assert [b.name for b in storage.Client().list_blobs(gcs_bucket)] == ["out/x.bin"]
    finalized = [
        m.attributes["objectId"]
        for m in pubsub.drain(uploads)
        if m.attributes["bucketId"] == gcs_bucket
    ]
    assert finalized == ["out/x.bin", "out/x.bin"]  # two uploads, no temporary objects


def test_gcs_provenance_over_the_metadata_limit_goes_to_a_sidecar(emulators, gcs_bucket):
    record = {"job": "j", "inputs": {f"input_{n}": "sha256:" + "0" * 64 for n in range(120)}}
    path = f"gs://{gcs_bucket}/big/x.bin"
    assert write_atomically(path, b"data", overwrite=False, provenance=record)
    assert read_provenance(path) == record
    names = sorted(b.name for b in storage.Client().list_blobs(gcs_bucket, prefix="big/"))
    assert names == ["big/x.bin", "big/x.bin.provenance.json"]


def test_gcs_reads_and_checks_go_straight_to_the_object(emulators, gcs_bucket):
    blob_data = bytes(range(256)) * 1000
    path = f"gs://{gcs_bucket}/in/x.bin"
    storage.Client().bucket(gcs_bucket).blob("in/x.bin").upload_from_string(blob_data)
    assert exists(path) and not exists(f"gs://{gcs_bucket}/in/y.bin")
    assert read_bytes(path) == blob_data
    with open_for_reading(path) as stream:
        assert stream.read(1000) == blob_data[:1000]
        assert stream.read() == blob_data[1000:]
    assert digest(path) == digest_of(blob_data)
    missing = f"gs://{gcs_bucket}/in/missing.bin"
    with pytest.raises(FileNotFoundError, match=r"missing\.bin: not found"):
        read_bytes(missing)
    with pytest.raises(FileNotFoundError, match=r"missing\.bin: not found"):
        open_for_reading(missing)  # found missing when opened, as Beam's open does


def test_compressed_gcs_objects_are_still_decompressed_by_suffix(emulators, gcs_bucket):
    path = f"gs://{gcs_bucket}/in/x.txt.gz"
    storage.Client().bucket(gcs_bucket).blob("in/x.txt.gz").upload_from_string(
        gzip.compress(b"hello\n" * 100)
    )
    assert read_bytes(path) == b"hello\n" * 100
    with open_for_reading(path) as stream:
        assert stream.read() == b"hello\n" * 100


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_list_folder_names_what_is_directly_in_a_folder(tmp_path, monkeypatch):
    (tmp_path / "out" / "nested").mkdir(parents=True)
    for name in ("a.json", "b.json", "nested/c.json"):
        (tmp_path / "out" / name).write_text("{}")
    assert list_folder(f"{tmp_path}/out") == {"a.json", "b.json", "nested"}
    assert list_folder(f"{tmp_path}/missing") == frozenset()
    assert "tmp" in list_folder("")  # the root, as "/tmp".rpartition("/") names it
    monkeypatch.chdir(tmp_path / "out")
    assert list_folder(".") == {"a.json", "b.json", "nested"}


def test_list_folder_on_gcs_names_the_objects_directly_under_a_prefix(emulators, gcs_bucket):
    bucket = storage.Client().bucket(gcs_bucket)
    for name in ("out/a.json", "out/b.json", "out/nested/c.json", "outside.json"):
        bucket.blob(name).upload_from_string(b"{}")
    assert list_folder(f"gs://{gcs_bucket}/out") == {"a.json", "b.json"}
    assert list_folder(f"gs://{gcs_bucket}") == {"outside.json"}
    assert list_folder(f"gs://{gcs_bucket}/missing") == frozenset()
    assert list_folder(f"gs://{gcs_bucket}/out", max_names=2) == {"a.json", "b.json"}
    assert list_folder(f"gs://{gcs_bucket}/out", max_names=1) is None


def test_list_folder_reads_no_more_than_max_names(tmp_path):
    for i in range(5):
        (tmp_path / f"e{i}.json").write_text("{}")
    assert len(list_folder(str(tmp_path), max_names=5)) == 5
    assert list_folder(str(tmp_path), max_names=4) is None
    assert list_folder(f"{tmp_path}/missing", max_names=1) == frozenset()


def test_gcs_streams_seek_like_files(emulators, gcs_bucket):
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:  # zipfile reads from the end: seeks
        zipped.writestr("inside.txt", "hello from a zip")
    storage.Client().bucket(gcs_bucket).blob("in/x.zip").upload_from_string(archive.getvalue())
    with open_for_reading(f"gs://{gcs_bucket}/in/x.zip") as stream:
        assert stream.seekable()
        with zipfile.ZipFile(stream) as zipped:
            assert zipped.read("inside.txt") == b"hello from a zip"
        stream.seek(-4, io.SEEK_END)
        assert stream.tell() == len(archive.getvalue()) - 4


def test_gcs_objects_are_read_as_stored_without_transcoding(emulators, gcs_bucket):
    stored = gzip.compress(b"[1, 2, 3]\n" * 1000)
    blob = storage.Client().bucket(gcs_bucket).blob("in/x.json")
    blob.content_encoding = "gzip"
    blob.upload_from_string(stored, content_type="application/json")
    path = f"gs://{gcs_bucket}/in/x.json"
    assert read_bytes(path) == stored  # as Beam's FileSystems reads it
    with open_for_reading(path) as stream:
        assert stream.read(100) + stream.read() == stored


def test_a_folder_removed_between_writes_is_made_again(tmp_path):
    import shutil

    folder = tmp_path / "deep" / "er"
    assert write_atomically(f"{folder}/a.json", b"1", overwrite=False, durable=False)
    shutil.rmtree(tmp_path / "deep")  # the folder this process already knew goes away
    assert write_atomically(f"{folder}/b.json", b"2", overwrite=False, durable=False)
    assert write_atomically(f"{folder}/c.json", b"3")
    assert sorted(p.name for p in folder.iterdir()) == ["b.json", "c.json"]  # no temporaries


@pytest.mark.usefixtures("emulators")
def test_a_thread_per_call_reuses_the_clients_its_predecessors_gave_back():
    used = []

    def call():
        used.append(gcs_client())
        assert gcs_client() is used[-1]  # one client per thread while it runs
        release_gcs_client()

    for _ in range(5):
        thread = threading.Thread(target=call)
        thread.start()
        thread.join()
    assert all(client is used[0] for client in used)


def test_bucket_handles_are_kept_per_thread_and_go_with_the_client(gcs_bucket):
    seen = {}

    def call():
        handle = bucket_handle(gcs_bucket)
        assert bucket_handle(gcs_bucket) is handle and handle.client is gcs_client()
        path = f"gs://{gcs_bucket}/handles/a.txt"
        assert write_atomically(path, b"a", overwrite=False)
        assert read_bytes(path) == b"a"
        release_gcs_client()  # the client is given back, and its handles go with it
        again = bucket_handle(gcs_bucket)  # the same client, taken back
        seen.update(first=handle, again=again, client=gcs_client())
        release_gcs_client()

    thread = threading.Thread(target=call)
    thread.start()
    thread.join()
    assert seen["again"] is not seen["first"]
    assert seen["again"].client is seen["client"] is seen["first"].client


@pytest.mark.parametrize("where", ["local", "gcs"])
def test_a_file_output_is_copied_in_chunks_never_held_whole(where, tmp_path, request):
    size = 48 << 20
    source = tmp_path / "big.wav"
    with open(source, "wb") as out:
        out.truncate(size)  # 48 MiB of zeros, sparse: cheap to make
    if where == "gcs":
        target = f"gs://{request.getfixturevalue('gcs_bucket')}/out/big.wav"
    else:
        target = str(tmp_path / "out" / "big.wav")
    tracemalloc.start()
    try:
        assert write_atomically(target, source, overwrite=False, provenance={"job": "j"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 20 << 20, f"{peak >> 20} MiB held while copying 48 MiB"
    assert digest(target) == digest(str(source)) and read_provenance(target) == {"job": "j"}


@pytest.mark.parametrize(
    "path",
    [
        *(f"gs://b/in/track{suffix}" for suffix in COMPRESSED_SUFFIXES),
        *(f"/data/TRACK{suffix.upper()}" for suffix in COMPRESSED_SUFFIXES),
        "a.tar.gz",
        "a.gz.txt",
        "a.zst.zstd",
        "folder.gz/track",
        "track",
        "",
        ".gz",
        "gs://b/in/track.mp3",
        "s3://b/x.xz",
    ],
)
def test_compression_is_detected_as_beam_detects_it(path):
    assert detect_compression(path) == CompressionTypes.detect_compression_type(path)


def test_every_compression_beam_detects_is_known():
    detected = {detect_compression(f"x{suffix}") for suffix in COMPRESSED_SUFFIXES}
    beams = {v for k, v in vars(CompressionTypes).items() if k.isupper() and isinstance(v, str)}
    assert detected == beams - {CompressionTypes.AUTO, CompressionTypes.UNCOMPRESSED}
