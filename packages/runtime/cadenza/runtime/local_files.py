"""Local files written whole or not at all, with metadata in an extended attribute.

`create_file(target, data, attributes)` writes the content, and the attributes as
`user.*` extended attributes, into a file no reader can see yet, then gives it its
name in one step:

- create-only (`overwrite=False`): an unnamed file (`O_TMPFILE`) in the target's
  folder, linked to the target name (`linkat`, which fails if the name exists). No
  temporary name is ever created, so there is nothing to remove or leave behind.
  Where the filesystem has no unnamed files, a hidden temporary file is linked and
  removed instead.
- replacing (`overwrite=True`): a hidden temporary file renamed over the target.

Extended attributes go with the file's content atomically; a filesystem without them,
or a value over its size limit (`set_attributes` returns False), makes the caller fall
back to a sidecar file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import uuid
from collections.abc import Callable

import attrs

_known_folders: set[str] = set()  # folders made or seen by this process
_no_unnamed_files: set[str] = set()  # folders where O_TMPFILE is not supported
_no_attributes: set[str] = set()  # folders whose filesystem refused user xattrs
_proc_fds: tuple[int, int] | None = None  # (pid, fd of /proc/self/fd) of this process
_proc_lock = threading.Lock()

_MODE = 0o666  # less the umask, as open() gives
_UNSUPPORTED = {errno.EOPNOTSUPP, errno.ENOTSUP, errno.EISDIR, errno.EINVAL}
_NO_ATTRIBUTES = {errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM}  # the filesystem's answer
_TOO_BIG = {errno.E2BIG, errno.ENOSPC, errno.ERANGE}  # this value's: over the size limit


def folder_of(target: str) -> str:
    """The folder of `target`, made if missing (once per process)."""
    folder = os.path.dirname(target) or "."
    if folder not in _known_folders:
        os.makedirs(folder, exist_ok=True)
        _known_folders.add(folder)
    return folder


def _proc_fd_folder() -> int:
    """This process's `/proc/self/fd` opened as a folder (again after a fork)."""
    global _proc_fds
    pid = os.getpid()
    with _proc_lock:
        if _proc_fds is None or _proc_fds[0] != pid:
            if _proc_fds is not None:  # the parent's, inherited through a fork
                with contextlib.suppress(OSError):
                    os.close(_proc_fds[1])
            _proc_fds = (pid, os.open("/proc/self/fd", os.O_RDONLY | os.O_DIRECTORY))
        return _proc_fds[1]


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


COPY_CHUNK = 1 << 20


def _write_content(fd: int, content: bytes | os.PathLike) -> None:
    """Bytes as they are; a local file's content copied a chunk at a time (never held
    whole in memory)."""
    if isinstance(content, bytes | bytearray | memoryview):
        _write_all(fd, content)
        return
    with open(content, "rb") as source:
        while chunk := source.read(COPY_CHUNK):
            _write_all(fd, chunk)


def _fill(fd: int, data, attributes: dict, folder: str, durable: bool) -> bool:
    """Content and attributes into the open file, then to disk if `durable`."""
    _write_content(fd, data)
    attributes_set = set_attributes(fd, attributes, folder)
    if durable:
        os.fsync(fd)
    return attributes_set


def set_attributes(fd_or_path, attributes: dict[str, bytes], folder: str) -> bool:
    """Sets `user.<name>` attributes; False (none set) where the filesystem has none, or
    a value is over its size limit (on ext4 about a block: 4 KB)."""
    if not attributes:
        return True
    if folder in _no_attributes:
        return False
    try:
        for name, value in attributes.items():
            os.setxattr(fd_or_path, f"user.{name}", value)
    except OSError as err:
        if err.errno in _TOO_BIG:
            for name in attributes:
                with contextlib.suppress(OSError):
                    os.removexattr(fd_or_path, f"user.{name}")
            return False
        if err.errno not in _NO_ATTRIBUTES:
            raise
        _no_attributes.add(folder)
        return False
    return True


def read_attribute(path: str, name: str) -> bytes | None:
    """The `user.<name>` attribute of `path`, or None (no such file or attribute)."""
    try:
        return os.getxattr(path, f"user.{name}")
    except OSError as err:
        if err.errno in (errno.ENODATA, errno.ENOENT, errno.ENOTSUP, errno.EOPNOTSUPP):
            return None
        raise


def _refused(target: str) -> bool:
    if os.path.isdir(target):
        raise IsADirectoryError(f"{target} is a folder, not a file")
    return False


@attrs.frozen
class _Fill:
    """What goes into the file before it gets its name."""

    data: bytes | os.PathLike
    attributes: dict[str, bytes]
    folder: str
    durable: bool
    unrecorded: Callable[[], object] | None

    def into(self, fd: int) -> bool:
        """Writes the content and attributes; True if the attributes were set."""
        attributes_set = _fill(fd, self.data, self.attributes, self.folder, self.durable)
        if self.attributes and not attributes_set and self.unrecorded is not None:
            self.unrecorded()
        return attributes_set


def _create_unnamed(folder, target, filled: _Fill) -> tuple[bool, bool] | None:
    """(written, attributes set) through an unnamed file; None where unsupported (no
    O_TMPFILE, or no /proc to link it through)."""
    try:
        fd = os.open(folder, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, _MODE)
    except OSError as err:
        if err.errno not in _UNSUPPORTED:
            raise
        _no_unnamed_files.add(folder)
        return None
    try:
        attributes_set = filled.into(fd)
        try:
            proc = _proc_fd_folder()
        except OSError:  # no /proc here
            _no_unnamed_files.add(folder)
            return None
        try:
            os.link(str(fd), target, src_dir_fd=proc, follow_symlinks=True)
        except FileExistsError:
            return _refused(target), attributes_set
        except OSError as err:
            if err.errno == errno.ENOENT and not os.path.isdir(folder):
                raise  # the folder went away: the caller makes it again
            _no_unnamed_files.add(folder)  # a kernel that will not link it this way
            return None
        return True, attributes_set
    finally:
        os.close(fd)


def _create_named(folder, target, filled: _Fill, overwrite: bool) -> tuple[bool, bool]:
    temporary = f"{folder}/.{os.path.basename(target)}.{uuid.uuid4().hex}.tmp"
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, _MODE)
    except FileNotFoundError:  # the folder went away since: make it again
        os.makedirs(folder, exist_ok=True)
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, _MODE)
    renamed = False
    try:
        try:
            attributes_set = filled.into(fd)
        finally:
            os.close(fd)
        if overwrite:
            os.replace(temporary, target)
            renamed = True
            return True, attributes_set
        try:
            os.link(temporary, target)
        except FileExistsError:
            return _refused(target), attributes_set
        return True, attributes_set
    finally:
        if not renamed:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)


def create_file(
    target: str,
    data: bytes | os.PathLike,
    attributes: dict[str, bytes] | None = None,
    *,
    overwrite: bool = True,
    durable: bool = True,
    unrecorded: Callable[[], object] | None = None,
) -> tuple[bool, bool]:
    """Writes `target` atomically: (written, attributes set with it). `data` is the
    content, or a local file to copy it from.

    `written` is False when `overwrite=False` and the target exists (it is left as it
    is). `durable`: the content reaches the disk (fsync) before the file gets its name,
    and the name does before this returns (the folder is fsynced too). `unrecorded` is
    called when the attributes could not be set, before the file gets its name (to
    record them elsewhere first).
    """
    folder = folder_of(target)
    attributes = attributes or {}
    filled = _Fill(data, attributes, folder, durable, unrecorded)
    created = None
    if not overwrite and folder not in _no_unnamed_files:
        try:
            created = _create_unnamed(folder, target, filled)
        except FileNotFoundError:  # the folder went away since: make it again
            os.makedirs(folder, exist_ok=True)
            created = _create_unnamed(folder, target, filled)
    if created is None:
        created = _create_named(folder, target, filled, overwrite)
    if durable and created[0]:
        _sync_folder(folder)
    return created


def _sync_folder(folder: str) -> None:
    """Makes the folder's entries (a name just given) survive a power loss."""
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
