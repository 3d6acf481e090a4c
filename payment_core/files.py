"""Files of the data dir are the owner's alone: keys, databases and sandbox state hold secrets and
buyers' data, so no other account on the machine may read them (directories 0700, files 0600)."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600
# What SQLite writes beside a database; it gives them the database file's own mode.
SQLITE_COMPANIONS = ("-wal", "-shm", "-journal")


def private_dir(path: Path, *, tighten: bool = False) -> Path:
    """Create `path` and its missing parents owner-only; returns it. An existing directory keeps its
    mode (it may be /tmp or a home directory) unless `tighten` says it is ours, as the data dir is."""
    missing = [parent for parent in (path, *path.parents) if not parent.exists()]
    for directory in reversed(missing):
        directory.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(directory, DIR_MODE)  # mkdir's mode is masked by the umask
    if tighten:
        os.chmod(path, DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Make `path` an owner-only file, creating it empty if missing (missing directories are created
    owner-only). Created before SQLite opens it, a database keeps this mode and so do its -wal and -shm files."""
    private_dir(path.parent)
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, FILE_MODE))
    os.chmod(path, FILE_MODE)
    return path


def private_database(path: Path) -> Path:
    """`private_file` for a SQLite database, and owner-only companions left by an older version."""
    private_file(path)
    for suffix in SQLITE_COMPANIONS:
        companion = Path(f"{path}{suffix}")
        if companion.exists():
            os.chmod(companion, FILE_MODE)
    return path


def write_private(path: Path, text: str) -> None:
    """Write `path` whole and owner-only: a temporary file (created 0600) renamed into place, so no
    reader ever sees it half written or readable by others."""
    private_dir(path.parent)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
