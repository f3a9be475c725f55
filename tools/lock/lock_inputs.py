"""The digest that ties requirements_lock.txt to the inputs it was compiled from."""

from __future__ import annotations

import hashlib
import pathlib
import re

INPUTS = ("requirements.in", "requirements-dev.in")
LOCK = "requirements_lock.txt"
DIGEST_LINE = re.compile(r"^# inputs-sha256: ([0-9a-f]{64})$", re.MULTILINE)


def inputs_digest(root: pathlib.Path) -> str:
    """sha256 over the names and contents of the lock's inputs, in a fixed order."""
    digest = hashlib.sha256()
    for name in INPUTS:
        digest.update(name.encode() + b"\0" + (root / name).read_bytes() + b"\0")
    return digest.hexdigest()


def recorded_digest(lock_text: str) -> str | None:
    """The inputs digest written in a lock's header, or None when there is none."""
    match = DIGEST_LINE.search(lock_text)
    return match.group(1) if match else None
