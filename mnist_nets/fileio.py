"""Writing files whole or not at all: write to a temporary name beside the target, then rename.

The file that replaces an existing one keeps that file's permission bits; a new file
gets ``0o666`` less the umask, as ``open()`` would give it.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

_TMP_STEM = 64  # characters of the target's name kept in the temporary name (NAME_MAX is 255)


def new_file_mode() -> int:
    """``0o666`` less the process's umask: the mode ``open()`` gives a new file."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _mode_for(path: Path) -> int:
    try:
        st = os.stat(path)
    except OSError:
        return new_file_mode()
    return stat.S_IMODE(st.st_mode) if stat.S_ISREG(st.st_mode) else new_file_mode()


def temp_name_prefix(path: Path) -> str:
    return f".{path.name[:_TMP_STEM]}."


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside ``path``; on a clean exit it replaces ``path``.

    On any exception (Ctrl-C, a full disk, ... included) the temporary file is removed
    and ``path`` is left as it was, so a reader never sees a half-written file; the
    ``OSError`` of a failed write, flush or rename propagates.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_name_prefix(path), suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8"})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
