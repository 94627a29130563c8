"""Files the database holds stay private: the data directory 0700, its files 0600.

The database (and SQLite's WAL and shared-memory files), the evidence vault, the key files
and the audit checkpoints hold stream keys, account names, locations and OCR text; nobody
but the account that runs Vangnet may read them.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) and make it 0700 (owner only)."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    _chmod(path, DIR_MODE)
    return path


def private_file(path: Path) -> None:
    """Make an existing file 0600; a missing one is left alone."""
    _chmod(path, FILE_MODE)


def _chmod(path: Path, mode: int) -> None:
    with contextlib.suppress(FileNotFoundError):
        current = stat.S_IMODE(path.stat().st_mode)
        if current != mode:
            os.chmod(path, mode)


def sqlite_files(database: Path) -> list[Path]:
    """The database file and the WAL and shared-memory files SQLite keeps beside it."""
    return [
        database,
        database.with_name(database.name + "-wal"),
        database.with_name(database.name + "-shm"),
    ]
