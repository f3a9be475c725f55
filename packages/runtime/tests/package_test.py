"""cadenza.runtime imports, and its pyproject agrees with the code and the lock."""

import cadenza.runtime
from cadenza_fixtures import check_distribution


def test_version_and_dependencies_agree_with_pyproject(repo_root):
    check_distribution(repo_root / "packages" / "runtime", cadenza.runtime)
