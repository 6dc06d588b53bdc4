"""Files at rest that hold secrets (phones, links, readings): folders 0700, files 0600.

SQLite gives its -wal and -shm files the mode of the database file, so making the database
file 0600 before SQLite opens it keeps all three private.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """The folder, made 0700 if it is not there (its missing parents too); an existing one
    is left as its owner set it."""
    if not path.is_dir():
        missing = [p for p in (path, *path.parents) if not p.exists()]
        path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        for p in missing:
            os.chmod(p, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """The file, made empty with 0600 if it is not there, and made 0600 if it is ours."""
    private_dir(path.parent)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    # another user's file, opened to read: theirs to keep private
    with contextlib.suppress(PermissionError):
        os.chmod(path, FILE_MODE)
    return path
