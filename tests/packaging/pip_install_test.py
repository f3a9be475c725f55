"""Every Cadenza package installs with pip into a fresh venv and imports there.

Offline: pip resolves each package's dependencies from the locked wheels that the
@pypi repository hash-checked (`--no-index --find-links`), so this also proves the
pyproject dependencies and the lock agree.
"""

import os
import pathlib
import shutil
import subprocess
import sys

PACKAGES = ("core", "runtime", "audio", "devtools")


def _runfiles() -> pathlib.Path:
    return pathlib.Path(os.environ["TEST_SRCDIR"])


def test_pip_install_each_package_in_a_fresh_venv(tmp_path):
    wheelhouse = next((_runfiles() / "pypi" / "wheels").glob("*.whl")).parent
    sources = tmp_path / "src"
    for name in PACKAGES:  # a real copy: setuptools writes build files next to the sources
        shutil.copytree(_runfiles() / "cadenza" / "packages" / name, sources / name)
    venv = tmp_path / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    env = {
        "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PIP_CONFIG_FILE": "/dev/null",
    }
    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--find-links",
            str(wheelhouse),
            *(str(sources / name) for name in PACKAGES),
        ],
        check=True,
        env=env,
    )
    probe = (
        "import importlib.metadata as m, cadenza.core, cadenza.runtime, cadenza.audio, "
        "cadenza.devtools\n"
        "for n in ('core', 'runtime', 'audio', 'devtools'):\n"
        "    mod = __import__('cadenza.' + n, fromlist=['x'])\n"
        "    assert m.version('cadenza-' + n) == mod.__version__, n\n"
        "    assert str(venv) in mod.__file__, mod.__file__\n"
        "print('ok')\n"
    ).replace("str(venv)", repr(str(venv)))
    result = subprocess.run(
        [python, "-c", probe], check=True, capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert result.stdout.strip() == "ok"
    assert sys.version_info[:2] == (3, 11)
