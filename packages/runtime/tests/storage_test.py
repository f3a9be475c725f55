"""Atomic local writes and provenance sidecars."""

import threading

from cadenza.runtime.storage import digest, read_provenance, write_atomically, write_provenance


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
