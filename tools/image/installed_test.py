"""The third-party layer holds each distribution as its wheel installed it: a file changed
after the install is taken from the wheel, a file no RECORD lists is left out."""

import base64
import hashlib
import json
import pathlib
import tarfile
import zipfile

import pytest

from tools.image.image_tool import main as image_tool
from tools.image.installed import as_installed, wheel_for
from tools.image.layer import LayerError, collect

PACKAGE = {
    "pkg/__init__.py": b"from pkg.core import VALUE\n",
    "pkg/core.py": b"VALUE = 1\n",
    "pkg/cacert.pem": b"-----BEGIN CERTIFICATE-----\nlocked\n-----END CERTIFICATE-----\n",
    "pkg-1.0.dist-info/METADATA": b"Name: pkg\nVersion: 1.0\n",
}
INJECTED = b"-----BEGIN CERTIFICATE-----\nsomeone's proxy\n-----END CERTIFICATE-----\n"


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def install(root: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    """A wheel of `pkg` and a site folder where pip installed it (RECORD listing INSTALLER
    and a script in bin/, as pip writes them)."""
    site = root / "site"
    installer = {"pkg-1.0.dist-info/INSTALLER": b"pip\n"}
    rows = [f"{p},{record_hash(data)},{len(data)}" for p, data in {**PACKAGE, **installer}.items()]
    record = "\n".join([*rows, "pkg-1.0.dist-info/RECORD,,", "../../bin/pkg-tool,,"]) + "\n"
    wheel = root / "wheels" / "pkg-1.0-py3-none-any.whl"
    wheel.parent.mkdir(parents=True)
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in PACKAGE.items():
            archive.writestr(path, data)
        archive.writestr("pkg-1.0.dist-info/RECORD", record)
    for path, data in {
        **PACKAGE,
        "pkg-1.0.dist-info/RECORD": record.encode(),
        **installer,
        "bin/pkg-tool": b"#!/usr/bin/python3\n",
    }.items():
        (site / path).parent.mkdir(parents=True, exist_ok=True)
        (site / path).write_bytes(data)
    return site, wheel


def layer_spec(site: pathlib.Path) -> list[tuple[str, str]]:
    return [
        (str(site / name), f"opt/cadenza/site/{name}")
        for name in ("pkg", "pkg-1.0.dist-info", "bin")
    ]


def contents(files: dict[str, pathlib.Path]) -> dict[str, bytes]:
    return {dest: source.read_bytes() for dest, source in files.items()}


def test_an_untouched_install_is_taken_as_it_is(tmp_path):
    site, wheel = install(tmp_path)
    files = collect(layer_spec(site))
    assert as_installed(files, [wheel], tmp_path / "scratch") == (files, [])
    assert "opt/cadenza/site/bin/pkg-tool" in files  # outside the distribution's folders


def test_a_file_changed_after_the_install_comes_from_the_wheel(tmp_path):
    site, wheel = install(tmp_path)
    untouched = contents(collect(layer_spec(site)))
    with open(site / "pkg" / "cacert.pem", "ab") as bundle:
        bundle.write(INJECTED)
    (site / "pkg" / "_cache").mkdir()
    (site / "pkg" / "_cache" / "core.VALUE-3.py311.nbi").write_bytes(b"numba's cache")
    (site / "pkg" / "notes.txt").write_text("written by a test run")

    checked, left_out = as_installed(collect(layer_spec(site)), [wheel], tmp_path / "scratch")

    assert contents(checked) == untouched
    assert left_out == [
        "opt/cadenza/site/pkg/_cache/core.VALUE-3.py311.nbi",
        "opt/cadenza/site/pkg/notes.txt",
    ]
    restored = checked["opt/cadenza/site/pkg/cacert.pem"]
    assert restored.is_relative_to(tmp_path / "scratch")
    assert INJECTED in (site / "pkg" / "cacert.pem").read_bytes()  # the install is left alone


def test_a_changed_file_no_wheel_restores_is_an_error_naming_it(tmp_path):
    site, _ = install(tmp_path)
    (site / "pkg" / "core.py").write_text("VALUE = 2\n")
    files = collect(layer_spec(site))
    named = (
        r"/opt/cadenza/site/pkg/core.py is not what pkg-1.0's RECORD says \(sha256 \S+, "
        r"found \S+: changed after pip installed it\), and no wheel of pkg-1.0 .*"
        r"bazel sync --only=pypi"
    )
    with pytest.raises(LayerError, match=named):
        as_installed(files, [], tmp_path / "scratch")
    other = tmp_path / "other" / "pkg-1.0-py3-none-any.whl"
    other.parent.mkdir()
    with zipfile.ZipFile(other, "w") as archive:
        archive.writestr("pkg/core.py", "VALUE = 3\n")
    with pytest.raises(LayerError, match=r"pkg-1.0-py3-none-any.whl does not hold it as recorded"):
        as_installed(files, [other], tmp_path / "scratch")


def test_wheels_are_found_by_normalized_name_and_version(tmp_path):
    wheels = [
        tmp_path / "google_cloud_storage-2.19.0-py2.py3-none-any.whl",
        tmp_path / "google_cloud_storage-2.18.0-py2.py3-none-any.whl",
        tmp_path / "PyYAML-6.0.2-cp311-cp311-manylinux_2_17_x86_64.whl",
    ]
    assert wheel_for("google_cloud_storage-2.18.0", wheels) == wheels[1]
    assert wheel_for("PyYAML-6.0.2", wheels) == wheels[2]
    assert wheel_for("pyyaml-6.0.1", wheels) is None


def test_the_layer_tool_builds_the_same_tar_after_the_install_was_changed(tmp_path):
    site, wheel = install(tmp_path)

    def build(name: str) -> bytes:
        spec = tmp_path / f"{name}.spec.json"
        files = [list(pair) for pair in layer_spec(site)]
        spec.write_text(json.dumps({"comment": name, "files": files, "wheels": [str(wheel)]}))
        out, info = tmp_path / f"{name}.tar", tmp_path / f"{name}.json"
        assert (
            image_tool(["layer", "--spec", str(spec), "--out", str(out), "--info", str(info)]) == 0
        )
        return out.read_bytes()

    before = build("before")
    with open(site / "pkg" / "cacert.pem", "ab") as bundle:
        bundle.write(INJECTED)
    (site / "pkg" / "leftover.nbc").write_bytes(b"cache")
    after = build("after")
    assert after == before
    with tarfile.open(tmp_path / "after.tar") as tar:
        bundle = tar.extractfile("opt/cadenza/site/pkg/cacert.pem").read()
    assert bundle == PACKAGE["pkg/cacert.pem"]


def test_records_of_copies_vendored_inside_a_package_are_its_files(tmp_path):
    site, wheel = install(tmp_path)
    vendor = site / "pkg" / "_vendor"
    (vendor / "other-2.0.dist-info").mkdir(parents=True)
    (vendor / "other").mkdir()
    (vendor / "other" / "__init__.py").write_text("# vendored, then patched by pkg\n")
    # the vendored copy's RECORD disagrees with the file pkg ships: pkg's RECORD decides
    vendored = vendor / "other-2.0.dist-info" / "RECORD"
    vendored.write_text("other/__init__.py,sha256=AAAA,4\n")
    record = site / "pkg-1.0.dist-info" / "RECORD"
    rows = [
        f"{path.relative_to(site)},{record_hash(path.read_bytes())},1"
        for path in (vendored, vendor / "other" / "__init__.py")
    ]
    record.write_text(record.read_text() + "\n".join(rows) + "\n")
    # whichever RECORD is read last (here the vendored one)
    files = collect(list(reversed(layer_spec(site))))
    assert as_installed(files, [wheel], tmp_path / "scratch") == (files, [])
