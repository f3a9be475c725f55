"""The README's table of image sizes is the images Bazel builds (within a megabyte)."""

import re

import pytest

from cadenza_fixtures import runfiles_root
from tools.image.layout import Image

JOBS = ["fingerprint", "features", "normalize", "audio_info"]


def readme_rows() -> dict[str, list[float]]:
    text = (runfiles_root() / "README.md").read_text()
    section = text.split("## Container images", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 6 and cells[0] in JOBS:
            rows[cells[0]] = [
                float(re.match(r"[\d,.]+", c).group().replace(",", "")) for c in cells[1:]
            ]
    return rows


@pytest.mark.parametrize("job", JOBS)
def test_the_readme_states_each_layer_and_the_total(job):
    image = Image.read(runfiles_root() / "jobs" / job / "image.oci")
    sizes = [layer["size"] / 1e6 for layer in image.manifest["layers"]]
    stated = readme_rows()[job]
    assert stated[:4] == pytest.approx(sizes, abs=1.0)
    assert stated[4] == pytest.approx(sum(sizes), abs=1.0)
