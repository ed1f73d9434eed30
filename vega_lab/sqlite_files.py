"""The one check every SQLite-backed store runs before opening its file.

SQLite happily "opens" any file and only fails (or worse, writes) later, so a store pointed at
a JSON file, a folder or a half-copied database would either crash deep inside the driver or
damage the file. Each store (conversations, the fingerprint database, the index catalogue)
refuses such a path up front, untouched, with its own error class.
"""

from __future__ import annotations

from pathlib import Path

from vega_lab.errors import VegaError

__all__ = ["SQLITE_MAGIC", "check_sqlite_file"]

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
