"""Writing files without ever leaving a half-written one behind (reports, inventories, lab
state, journals all go through here)."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path


def write_atomic(path: str | os.PathLike[str], text: str, *, mode: int | None = None) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically.

    The text goes to a temporary file in the same directory, is fsynced, then renamed over
    ``path`` with :func:`os.replace`. On any error (including KeyboardInterrupt) the
    temporary file is removed and an existing ``path`` is left untouched. Newlines are
    written as given (no translation).

    Permissions: ``mode`` when given (0o600 for files holding secrets). Otherwise an existing
    file of the current user keeps its permission bits (rwx only), and anything else (a new
    file, or a file another user created, say world-writable in a shared folder) gets
    0o666 minus the umask: 0o644 with the usual umask 022, 0o600 with 077. A mode is never
    copied from a file owned by someone else.
    """
    target = Path(path)
    directory = target.parent
    fd, temp_name = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp_name, _mode_for(target) if mode is None else mode)
        os.replace(temp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise
    fsync_directory(directory)


def _mode_for(target: Path) -> int:
    try:
        st = target.stat()
    except OSError:
        st = None
    if st is not None and st.st_uid == os.geteuid():
        return stat.S_IMODE(st.st_mode) & 0o777
    # os.umask can only be read by setting it; restore it at once.
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


def fsync_directory(directory: Path) -> None:
    """Make the rename durable; not every platform or file system allows it."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
