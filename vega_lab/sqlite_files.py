"""The one check every SQLite-backed store runs before opening its file.

SQLite happily "opens" any file and only fails (or worse, writes) later, so a store pointed at
a JSON file, a folder or a half-copied database would either crash deep inside the driver or
damage the file. Each store (conversations, the fingerprint database, the index catalogue)
refuses such a path up front, untouched, with its own error class.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from typing import Any

from vega_lab.errors import VegaError

__all__ = ["SQLITE_MAGIC", "check_sqlite_file", "enable_wal"]

SQLITE_MAGIC = b"SQLite format 3\x00"


def check_sqlite_file(path: Path, error: type[VegaError], purpose: str, example: str) -> None:
    """Raise ``error`` if ``path`` is a folder or a non-empty file that is not SQLite.

    ``purpose`` names the store ("the conversation store"); ``example`` is a good file path.
    """
    if path.is_dir():
        raise error(f"{path} is a directory", f"pass a file path such as {example}")
    if path.is_file() and path.stat().st_size > 0:
        with path.open("rb") as fh:
            head = fh.read(len(SQLITE_MAGIC))
        if head != SQLITE_MAGIC:
            raise error(
                f"{path} is not a SQLite database (it was left untouched)",
                f"point {purpose} at a new file, or move this one away",
            )


def enable_wal(con: Any, busy_timeout_s: float) -> None:
    """``PRAGMA journal_mode=WAL`` on a DB-API connection (or cursor), retried while busy.

    Switching a file to WAL needs an exclusive lock, and when two processes open a new
    database at the same moment SQLite answers "database is locked" at once, without waiting
    on the busy handler; so the switch is retried with backoff until ``busy_timeout_s``.
    """
    deadline, delay = time.monotonic() + busy_timeout_s, 0.005
    while True:
        try:
            con.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() >= deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 0.2)
