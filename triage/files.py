"""Writing the files the tool creates (recordings, reports, runbooks): private, atomic, and
never through a symbolic link someone left in the way.

`write_private(path, text)` writes a temporary file next to `path` under an unpredictable
name, created with O_EXCL | O_NOFOLLOW and mode 0600 (the umask can only narrow it), flushes
it to disk, then renames it over `path`. A rename replaces a symbolic link at `path` itself,
never the file it points to; an interrupted write leaves the old file as it was and no
temporary file behind. A file that already exists keeps its mode if that is narrower than
0600 (a 0400 recording stays read-only); a wider one is narrowed. docs/security.md.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO

PRIVATE_MODE = 0o600

_FLAGS = (
    os.O_WRONLY
    | os.O_CREAT
    | os.O_EXCL
    | getattr(os, "O_NOFOLLOW", 0)
    | getattr(os, "O_CLOEXEC", 0)
)


def write_private(path: Path, text: str) -> None:
    """Write `text` (UTF-8) to `path` privately and atomically. Raises OSError."""
    write_private_stream(path, lambda stream: stream.write(text))


def write_private_stream(path: Path, write: Callable[[IO[str]], object]) -> None:
    """Like write_private, the content written by `write(stream)` (a text stream)."""
    path = Path(path)
    directory = path.parent
    mode = PRIVATE_MODE
    with contextlib.suppress(FileNotFoundError):
        info = os.lstat(path)
        if stat.S_ISREG(info.st_mode):
            mode &= stat.S_IMODE(info.st_mode)
    tmp = directory / f".{path.name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, _FLAGS, PRIVATE_MODE)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        if mode != PRIVATE_MODE:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename itself durable (POSIX); harmless where directories cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


__all__ = ["PRIVATE_MODE", "write_private", "write_private_stream"]
