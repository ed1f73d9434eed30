"""Folder processing that survives bad files: each failure is recorded and skipped.

A researcher pointing the workbench at a folder of 10,000 files must not lose the 9,999 good
ones to one truncated JPEG. Every folder-level function in ``vega_lab.multimodal`` goes through
``process_files`` and returns a ``BatchResult``: what was produced, and which files were skipped
and why (the ``VegaError`` message, which says what to do next).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from vega_lab.errors import MultimodalError, VegaError

__all__ = ["BatchResult", "Skipped", "iter_files", "process_files"]

T = TypeVar("T")


@dataclass(frozen=True)
class Skipped:
    path: Path
    error: str


@dataclass
class BatchResult(Generic[T]):
    """Results for the files that worked, and the files that did not (with the reason)."""

    items: list[tuple[Path, T]] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)

    def __iter__(self) -> Iterator[tuple[Path, T]]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def summary(self) -> str:
        lines = [f"{len(self.items)} processed, {len(self.skipped)} skipped"]
        lines += [f"  skipped {s.path.name}: {s.error}" for s in self.skipped]
        return "\n".join(lines)


def iter_files(folder: str | Path, suffixes: Iterable[str] | None = None) -> list[Path]:
    """Files under ``folder`` (recursive, sorted, hidden ones left out), optionally by suffix."""
    root = Path(folder)
    if not root.is_dir():
        raise MultimodalError(f"{root} is not a folder", "give a folder of files to process")
    wanted = {s.lower() for s in suffixes} if suffixes is not None else None
    return sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and not any(part.startswith(".") for part in p.relative_to(root).parts)
        and (wanted is None or p.suffix.lower() in wanted)
    )


def process_files(paths: Iterable[str | Path], fn: Callable[[Path], T]) -> BatchResult[T]:
    """Apply ``fn`` to each path; a ``VegaError`` (or OSError) skips that file, with its reason.

    Other exceptions propagate: they are bugs, not bad input, and must not be swallowed.
    """
    result: BatchResult[T] = BatchResult()
    for raw in paths:
        path = Path(raw)
        try:
            result.items.append((path, fn(path)))
        except (VegaError, OSError) as exc:
            result.skipped.append(Skipped(path, str(exc)))
    return result
