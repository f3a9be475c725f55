"""Input handles: what the logic reads, and the digest the outputs' provenance records
of it, taken as the logic reads so that the input is not fetched a second time."""

import gzip
import hashlib
import io
import os

import pytest
from google.cloud import storage
from jobs_for_tests import gcs_config_text, put_gcs_input

from cadenza.core import parse_job_config
from cadenza.runtime import JobLogic, Result
from cadenza.runtime.api import InputHandle
from cadenza.runtime.batch import run_batch
from cadenza.runtime.storage import digest, read_provenance

CONTENT = bytes(range(256)) * 400


def sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def local_input(tmp_path) -> InputHandle:
    path = tmp_path / "x.bin"
    path.write_bytes(CONTENT)
    return InputHandle("audio", str(path))


def test_a_stream_read_to_its_end_gives_the_digest(local_input):
    with local_input.open() as stream:
        assert stream.read(0) == b"" and local_input.read_digest is None  # not the end
        assert stream.read(1000) + stream.read() == CONTENT
    assert local_input.read_digest == sha(CONTENT)


def test_a_stream_read_in_chunks_gives_the_digest_at_its_end(local_input):
    with local_input.open() as stream:
        stream.seek(0)  # a seek to where it already is changes nothing
        chunks = iter(lambda: stream.read(4096), b"")
        assert b"".join(chunks) == CONTENT
    assert local_input.read_digest == sha(CONTENT)


def test_a_partial_or_seeking_read_gives_no_digest(local_input):
    with local_input.open() as stream:
        stream.read(100)
    assert local_input.read_digest is None
    with local_input.open() as stream:
        stream.seek(-10, io.SEEK_END)
        stream.seek(0)
        assert stream.read() == CONTENT  # read in full, but not front to back
    assert local_input.read_digest is None


def test_a_local_stream_keeps_its_name_and_descriptor_but_reads_through_it_are_not_hashed(
    local_input,
):
    with local_input.open() as stream:
        assert stream.name == local_input.path
        assert os.read(stream.fileno(), len(CONTENT)) == CONTENT
        assert stream.read(10) == b""
    assert local_input.read_digest is None  # the writer hashes the file itself


@pytest.mark.usefixtures("emulators")
def test_remote_inputs_streamed_or_copied_give_the_digest(gcs_bucket):
    storage.Client().bucket(gcs_bucket).blob("in/x.bin").upload_from_string(CONTENT)
    streamed = InputHandle("audio", f"gs://{gcs_bucket}/in/x.bin")
    with streamed.open() as stream:
        assert stream.read() == CONTENT
    assert streamed.read_digest == sha(CONTENT)
    copied = InputHandle("audio", f"gs://{gcs_bucket}/in/x.bin")
    with copied.local_path() as path:
        assert path.read_bytes() == CONTENT
    assert copied.read_digest == sha(CONTENT)


class ReadOnceThenDelete(JobLogic):
    """Streams its input, then deletes it: the write must not need to read it again."""

    def process(self, ctx):
        with ctx.inputs["audio"].open() as stream:
            data = stream.read()
        bucket, name = ctx.inputs["audio"].path[5:].split("/", 1)
        storage.Client().bucket(bucket).blob(name).delete()
        return Result(outputs={"report": {"bytes": len(data)}, "copy": data})


@pytest.mark.usefixtures("emulators")
def test_the_provenance_digest_is_taken_from_the_logics_own_read(gcs_bucket, tmp_path):
    put_gcs_input(gcs_bucket, "t1", "hello")
    config = parse_job_config(gcs_config_text(gcs_bucket, "streams"), env={})
    run = run_batch(config, ReadOnceThenDelete(), elements=["t1"], runs_root=str(tmp_path))
    assert run.counts() == {"processed": 1}
    provenance = read_provenance(f"gs://{gcs_bucket}/out/t1.json")
    assert provenance["inputs"]["audio"] == sha(b"hello")


def test_lines_come_from_the_streams_readline_and_give_the_digest_at_the_end(tmp_path):
    text = b"".join(b"line %d\n" % i for i in range(1000)) + b"last, no newline"
    path = tmp_path / "lines.txt"
    path.write_bytes(text)
    handle = InputHandle("audio", str(path))
    with handle.open() as stream:
        lines = list(stream)
    assert lines[0] == b"line 0\n" and lines[-1] == b"last, no newline" and len(lines) == 1001
    assert handle.read_digest == sha(text)


@pytest.mark.usefixtures("emulators")
def test_a_compressed_remote_input_is_copied_as_stored_like_a_local_one(gcs_bucket, tmp_path):
    packed = gzip.compress(CONTENT)
    storage.Client().bucket(gcs_bucket).blob("in/x.gz").upload_from_string(packed)
    (tmp_path / "x.gz").write_bytes(packed)
    for path in (f"gs://{gcs_bucket}/in/x.gz", str(tmp_path / "x.gz")):
        handle = InputHandle("audio", path)
        with handle.local_path() as local:
            assert local.suffix == ".gz" and local.read_bytes() == packed, path
        with handle.open() as stream:  # a stream reads it decompressed, as Beam does
            assert stream.read() == CONTENT
        with handle.open() as stream:
            assert b"".join(stream) == CONTENT  # line by line too
        # provenance digests an input as stored: the copy's bytes, not the decompressed
        remote = path.startswith("gs://")
        assert handle.read_digest == (sha(packed) if remote else None)  # local: not read
        assert digest(path) == sha(packed)  # what the writer takes for an input not read


def test_an_input_named_gz_that_is_not_gzip_is_digested_as_stored(gcs_bucket):
    path = f"gs://{gcs_bucket}/in/a.mp3.gz"
    storage.Client().bucket(gcs_bucket).blob("in/a.mp3.gz").upload_from_string(b"not gzip")
    handle = InputHandle("upload", path)
    with handle.local_path() as local:
        assert local.read_bytes() == b"not gzip"
    assert handle.read_digest == digest(path) == sha(b"not gzip")
