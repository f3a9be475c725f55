"""Layers are reproducible: the same files give the same tar wherever and whenever they lie."""

import os
import pathlib
import tarfile

import pytest

from tools.image.layer import LayerError, collect, write_layer


def make_tree(root: pathlib.Path, mtime: int, loose_modes: bool) -> pathlib.Path:
    site = root / "some" / "deep" / "site"
    (site / "pkg" / "__pycache__").mkdir(parents=True)
    (site / "pkg-1.0.dist-info").mkdir()
    (site / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (site / "pkg" / "__pycache__" / "__init__.cpython-311.pyc").write_bytes(os.urandom(64))
    (site / "pkg" / "tool.sh").write_text("#!/bin/sh\necho hi\n")
    (site / "pkg" / "tool.sh").chmod(0o775 if loose_modes else 0o700)
    (site / "pkg" / "data.bin").write_bytes(bytes(range(256)) * 40)
    (site / "pkg" / "data.bin").chmod(0o666 if loose_modes else 0o600)
    (site / "pkg-1.0.dist-info" / "METADATA").write_text("Name: pkg\n")
    (site / "pkg-1.0.dist-info" / "direct_url.json").write_text(f'{{"url": "file://{root}/x.whl"}}')
    (root / "main.py").write_text("print('job')\n")
    for path in [*root.rglob("*"), root]:
        os.utime(path, (mtime, mtime), follow_symlinks=False)
    return site


def build(
    tmp: pathlib.Path, name: str, mtime: int, loose_modes: bool
) -> tuple[pathlib.Path, object]:
    root = tmp / name
    site = make_tree(root, mtime, loose_modes)
    spec = [(str(site), "/opt/cadenza/site"), (str(root / "main.py"), "opt/cadenza/jobs/x/main.py")]
    out = tmp / f"{name}.tar"
    return out, write_layer(collect(spec), out)


def test_same_files_at_other_paths_times_and_modes_give_the_same_digest(tmp_path):
    first_tar, first = build(tmp_path, "clone-one", mtime=1_000_000, loose_modes=False)
    second_tar, second = build(tmp_path, "another/clone/two", mtime=1_700_000_000, loose_modes=True)
    assert first == second
    assert first_tar.read_bytes() == second_tar.read_bytes()
    assert first.files == 5  # the bytecode cache and direct_url.json are left out


def test_entries_are_sorted_with_parents_root_owned_and_timeless(tmp_path):
    tar_path, _ = build(tmp_path, "tree", mtime=1_234_567, loose_modes=True)
    with tarfile.open(tar_path) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names == sorted(names)
    assert names[:3] == ["opt", "opt/cadenza", "opt/cadenza/jobs"]
    assert not [n for n in names if "__pycache__" in n or n.endswith("direct_url.json")]
    assert {(m.uid, m.gid, m.mtime, m.uname) for m in members} == {(0, 0, 0, "")}
    modes = {m.name: m.mode for m in members}
    assert modes["opt/cadenza/site/pkg/tool.sh"] == 0o755
    assert modes["opt/cadenza/site/pkg/data.bin"] == 0o644
    assert modes["opt/cadenza/site/pkg"] == 0o755
    assert not [n for n in names if str(tmp_path).strip("/") in n]


def test_changed_content_changes_the_digest(tmp_path):
    _, before = build(tmp_path, "a", mtime=1, loose_modes=False)
    (tmp_path / "b").mkdir()
    root = tmp_path / "b"
    site = make_tree(root, 1, False)
    (site / "pkg" / "__init__.py").write_text("VALUE = 2\n")
    spec = [(str(site), "/opt/cadenza/site"), (str(root / "main.py"), "opt/cadenza/jobs/x/main.py")]
    after = write_layer(collect(spec), tmp_path / "b.tar")
    assert after.digest != before.digest


def test_two_sources_for_one_path_and_missing_sources_are_errors(tmp_path):
    one, two = tmp_path / "one.py", tmp_path / "two.py"
    one.write_text("1")
    two.write_text("2")
    with pytest.raises(LayerError, match=r"/opt/x.py comes from two sources"):
        collect([(str(one), "opt/x.py"), (str(two), "opt/x.py")])
    with pytest.raises(LayerError, match=r"absent.py: no such file or directory \(for /opt/y.py\)"):
        collect([(str(tmp_path / "absent.py"), "opt/y.py")])
    with pytest.raises(LayerError, match=r"bad path in the image"):
        collect([(str(one), "opt/../etc/passwd")])
