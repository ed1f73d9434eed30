"""Vectors on disk: one immutable pair of ``.npy`` files per space and version.

A write never modifies a live file: it writes version ``v+1`` (temp file, fsync, ``os.replace``)
and the catalogue's transaction then points the space at ``v+1``. Until that commit, readers and
a crash both see version ``v``; files of uncommitted versions are swept under the write lock.
``np.save``/``np.load`` run with ``allow_pickle=False``: a vectors file can never execute code.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from vega_lab.errors import IndexStoreError

__all__ = ["VectorFiles"]

_NAME = re.compile(r"^(?P<space>[a-z0-9_]+)\.v(?P<version>\d+)\.(?P<kind>vec|ids|hnsw|hnsw\.json)")


def _atomic_save(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        np.save(fh, array, allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


class VectorFiles:
    """The ``vectors/`` folder: ``<space>.v<version>.vec.npy`` (float32) + ``.ids.npy`` (int64)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, space: str, version: int, kind: str) -> Path:
        suffix = {"vec": "vec.npy", "ids": "ids.npy", "hnsw": "hnsw.bin", "hnsw.json": "hnsw.json"}
        return self.folder / f"{space}.v{version}.{suffix[kind]}"

    def write(self, space: str, version: int, ids: np.ndarray, vectors: np.ndarray) -> None:
        _atomic_save(self.path(space, version, "ids"), np.ascontiguousarray(ids, dtype=np.int64))
        _atomic_save(
            self.path(space, version, "vec"), np.ascontiguousarray(vectors, dtype=np.float32)
        )
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the renames themselves survive a power cut
        finally:
            os.close(dir_fd)

    def read(self, space: str, version: int, dim: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of a committed version, checked against the catalogue's figures."""
        if version == 0:
            return np.zeros(0, np.int64), np.zeros((0, dim), np.float32)
        vec_path = self.path(space, version, "vec")
        try:
            ids = np.load(self.path(space, version, "ids"), allow_pickle=False)
            vectors = np.load(vec_path, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            raise  # a concurrent writer swept it: the caller re-reads the catalogue and retries
        except (OSError, ValueError) as exc:
            raise IndexStoreError(
                f"cannot read {vec_path}: {exc}",
                "the index folder was damaged; remove the sources and add them again",
            ) from exc
        if ids.shape != (count,) or vectors.shape != (count, dim) or vectors.dtype != np.float32:
            raise IndexStoreError(
                f"{vec_path} holds {vectors.shape} {vectors.dtype} vectors and {ids.shape} ids; "
                f"the catalogue expects {count} x {dim} float32",
                "the index folder was modified by hand; build the index again in a new folder",
            )
        return ids, vectors

    def sweep(self, live: dict[str, int]) -> None:
        """Delete files of versions that are not live (older ones, or a crashed write's)."""
        for p in self.folder.iterdir():
            m = _NAME.match(p.name)
            crashed_tmp = p.name.startswith(".") and p.name.endswith(".tmp")
            if crashed_tmp or (m and live.get(m["space"]) != int(m["version"])):
                p.unlink(missing_ok=True)

    def discard(self, space: str, version: int) -> None:
        for kind in ("vec", "ids", "hnsw", "hnsw.json"):
            self.path(space, version, kind).unlink(missing_ok=True)
