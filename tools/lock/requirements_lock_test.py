"""requirements_lock.txt matches its inputs, pins exact versions and carries hashes."""

import re

from tools.lock.lock_inputs import LOCK, inputs_digest, recorded_digest


def test_lock_was_compiled_from_the_current_inputs(repo_root):
    recorded = recorded_digest((repo_root / LOCK).read_text())
    assert recorded is not None, f"{LOCK} has no '# inputs-sha256:' line: relock"
    assert recorded == inputs_digest(repo_root), (
        f"requirements.in or requirements-dev.in changed since {LOCK} was compiled: "
        "run `bazel run //:requirements.update` and commit the new lock"
    )


def test_the_lock_covers_every_requirement_and_extra(repo_root):
    problems = (repo_root.parent / "pypi" / "lock_problems.txt").read_text().splitlines()
    assert problems == [], "relock with `bazel run //:requirements.update`: " + "; ".join(problems)


def test_every_pin_is_exact_and_hashed(repo_root):
    text = (repo_root / LOCK).read_text()
    entries = re.split(r"\n(?=\S)", text.split("\n", 4)[-1].strip())
    pins = [e for e in entries if not e.startswith("#")]
    assert len(pins) > 50
    for entry in pins:
        assert re.match(r"^[A-Za-z0-9_.\-\[\],]+==[^\s\\]+", entry), (
            f"not an exact pin: {entry[:80]!r}"
        )
        assert "--hash=sha256:" in entry, f"no hash for {entry.split()[0]}"


def test_digest_changes_with_any_input(tmp_path, repo_root):
    for name in ("requirements.in", "requirements-dev.in"):
        (tmp_path / name).write_text((repo_root / name).read_text())
    before = inputs_digest(tmp_path)
    (tmp_path / "requirements-dev.in").write_text("pytest\n")
    assert inputs_digest(tmp_path) != before
