"""The persisted store: catalogue (SQLite) + vectors (versioned ``.npy``), written together.

Layout of an index folder::

    index.sqlite            sources, items (modality, locator, text, metadata JSON), spaces
    vectors/clip.v7.vec.npy float32 (n, dim) L2-normalised; row i belongs to item ids[i]
    vectors/clip.v7.ids.npy int64 (n,)
    vectors/clip.v7.hnsw.bin an approximate index for that version (a cache, rebuilt if absent)
    thumbs/<sha256>.jpg     image thumbnails

One ``write`` = one SQLite transaction (BEGIN IMMEDIATE: writers queue) around the new vector
files; the commit is what makes them live. Re-adding an unchanged file (same SHA-256) is a no-op,
a changed one has its items replaced in the same transaction, so no reader ever sees both.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from vega_lab.errors import IndexStoreError
from vega_lab.multimodal.index.catalog import Catalog, Item, SourceRecord, SpaceInfo
from vega_lab.multimodal.index.hits import stats_sample
from vega_lab.multimodal.index.vectors import VectorFiles

__all__ = ["IndexStore", "SourceWrite", "SpaceChange", "file_sha256", "source_key"]


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def source_key(path: str | Path) -> str:
    """Sources are keyed by absolute path: the same file reached two ways is one source."""
    return str(Path(path).expanduser().resolve())


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass
class SourceWrite:
    """Everything one file contributes: its items (drafts) and their vectors, in one space."""

    source: str
    sha256: str
    size: int
    modality: str
    space: str
    embedder: str
    drafts: list[dict[str, Any]]
    vectors: np.ndarray
    recipe: str = "{}"


@dataclass
class SpaceChange:
    """What one write did to a space, so a live search backend can follow incrementally."""

    version: int
    added_ids: np.ndarray
    added_vectors: np.ndarray
    removed_ids: np.ndarray


@dataclass
class _Loaded:
    version: int
    ids: np.ndarray
    vectors: np.ndarray
    row_of: dict[int, int] = field(default_factory=dict)
    sample: np.ndarray | None = None  # hits.stats_sample(vectors), made on first use
    ids_of: dict[tuple[str, ...], np.ndarray] = field(default_factory=dict)  # by modalities


def _normalised(vectors: np.ndarray, dim: int, source: str) -> np.ndarray:
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim != 2 or v.shape[1] != dim:
        raise IndexStoreError(
            f"{source}: the embedder returned vectors of shape {v.shape}, expected (n, {dim})",
            "the embedder does not match the space's dimension",
        )
    if not np.isfinite(v).all():
        raise IndexStoreError(f"{source}: the embedder returned NaN/inf", "check the embedder")
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    return v / np.maximum(norms, 1e-12)  # cosine = dot product, whatever the embedder did


class IndexStore:
    """Catalogue + vectors of one index folder; the search layer sits on top (collection.py)."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder).expanduser().resolve()
        if self.folder.exists() and not self.folder.is_dir():
            raise IndexStoreError(
                f"{self.folder} is a file, not an index folder",
                "give a folder path (created if missing) for the index",
            )
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.thumbs = self.folder / "thumbs"
            self.thumbs.mkdir(exist_ok=True)
        except OSError as exc:
            raise IndexStoreError(
                f"cannot create the index folder {self.folder}: {exc}",
                "check the path and its permissions",
            ) from exc
        self.catalog = Catalog(self.folder / "index.sqlite")
        self.files = VectorFiles(self.folder / "vectors")
        self._cache: dict[str, _Loaded] = {}
        self._lock = threading.RLock()

    # -- reads ----------------------------------------------------------------------------

    def spaces(self) -> dict[str, SpaceInfo]:
        return self.catalog.spaces()

    def _loaded(self, space: str) -> _Loaded:
        """The space's committed version (an empty, uncached one if it has none yet)."""
        for _attempt in range(5):
            info = self.catalog.spaces().get(space)
            if info is None:
                return _Loaded(0, np.zeros(0, np.int64), np.zeros((0, 0), np.float32))
            with self._lock:
                hit = self._cache.get(space)
                if hit is not None and hit.version == info.version:
                    return hit
                try:
                    ids, vecs = self.files.read(space, info.version, info.dim, info.count)
                except FileNotFoundError:
                    continue  # swept by a writer that committed meanwhile: read the new version
                hit = self._cache[space] = _Loaded(info.version, ids, vecs)
                return hit
        raise IndexStoreError(
            f"the {space!r} vectors kept changing or are missing in {self.files.folder}",
            "retry; if it persists, the folder was damaged: build the index again",
        )

    def matrix(self, space: str) -> tuple[int, np.ndarray, np.ndarray]:
        """(version, ids, vectors) of a space as committed now; cached until the version moves."""
        loaded = self._loaded(space)
        return loaded.version, loaded.ids, loaded.vectors

    def stats_sample(self, space: str) -> np.ndarray:
        """``hits.stats_sample`` of the space's committed vectors, cached with that version."""
        loaded = self._loaded(space)
        with self._lock:
            if loaded.sample is None:
                loaded.sample = stats_sample(loaded.vectors)
            return loaded.sample

    def ids_where(self, space: str, modalities: Sequence[str]) -> np.ndarray:
        """Ids of the space's items of ``modalities``, cached with the committed version (a
        filtered search asks for them on every query; every write moves the version)."""
        loaded = self._loaded(space)
        key = tuple(sorted(modalities))
        with self._lock:
            hit = loaded.ids_of.get(key)
        if hit is None:
            hit = np.array(self.catalog.ids_where(space, list(key)), np.int64)
            hit.flags.writeable = False  # shared by every query of this version
            with self._lock:
                loaded.ids_of[key] = hit
        return hit

    def vector(self, item: Item) -> np.ndarray:
        loaded = self._loaded(item.space)
        with self._lock:
            if not loaded.row_of:
                loaded.row_of = {int(i): r for r, i in enumerate(loaded.ids)}
            row = loaded.row_of.get(item.id)
        if row is None:
            raise IndexStoreError(f"item {item.id} has no vector", "add its source again")
        return np.array(loaded.vectors[row], dtype=np.float32)

    def items(self, ids: Sequence[int]) -> list[Item]:
        return self.catalog.items(list(ids))

    def source(self, path: str | Path) -> SourceRecord | None:
        return self.catalog.source(source_key(path))

    # -- writes ---------------------------------------------------------------------------

    def write(
        self, writes: Sequence[SourceWrite], removals: Sequence[str] = ()
    ) -> tuple[dict[str, SpaceChange], dict[str, list[int]]]:
        """Replace the given sources' items and remove others, atomically.

        Returns the change per touched space and the new item ids per source.
        """
        new_ids: dict[str, list[int]] = {}
        written: list[tuple[str, int]] = []
        with self._lock:
            try:
                with self.catalog.transaction("write to the index") as con:
                    spaces = self.catalog.spaces(con)
                    self.files.sweep({s.name: s.version for s in spaces.values()})
                    removed: dict[str, list[int]] = {}
                    added: dict[str, tuple[list[int], list[np.ndarray]]] = {}
                    for path in [*removals, *(w.source for w in writes)]:
                        for space, ids in self.catalog.delete_source(con, path).items():
                            removed.setdefault(space, []).extend(ids)
                    for w in writes:
                        info = self.catalog.ensure_space(
                            con, w.space, w.embedder, int(np.shape(w.vectors)[-1])
                        )
                        spaces.setdefault(w.space, info)
                        vecs = _normalised(w.vectors, info.dim, w.source)
                        if len(vecs) != len(w.drafts):
                            raise IndexStoreError(
                                f"{w.source}: {len(w.drafts)} items but {len(vecs)} vectors",
                                "this is a bug in the ingest step; please report it",
                            )
                        stamp = now_iso()
                        self.catalog.insert_source(
                            con,
                            SourceRecord(w.source, w.sha256, w.size, w.modality, stamp, w.recipe),
                        )
                        ids = [
                            self.catalog.insert_item(
                                con,
                                {**d, "source": w.source, "space": w.space, "added_at": stamp},
                            )
                            for d in w.drafts
                        ]
                        new_ids[w.source] = ids
                        slot = added.setdefault(w.space, ([], []))
                        slot[0].extend(ids)
                        slot[1].append(vecs)
                    changes: dict[str, SpaceChange] = {}
                    for space in sorted(set(removed) | set(added)):
                        info = spaces[space]
                        old_ids, old_vecs = self.files.read(
                            space, info.version, info.dim, info.count
                        )
                        gone = np.array(removed.get(space, []), dtype=np.int64)
                        keep = ~np.isin(old_ids, gone)
                        add_ids = np.array(added.get(space, ([], []))[0], dtype=np.int64)
                        parts = added.get(space, ([], []))[1]
                        add_vecs = (
                            np.concatenate(parts) if parts else np.zeros((0, info.dim), np.float32)
                        )
                        ids = np.concatenate([old_ids[keep], add_ids])
                        vecs = np.concatenate([np.asarray(old_vecs)[keep], add_vecs])
                        version = info.version + 1
                        written.append((space, version))
                        self.files.write(space, version, ids, vecs)
                        self.catalog.set_version(con, space, version, len(ids))
                        changes[space] = SpaceChange(version, add_ids, add_vecs, gone)
                        self._cache[space] = _Loaded(version, ids, vecs)
            except BaseException:
                for space, version in written:  # never committed: not live, remove now
                    self.files.discard(space, version)
                    self._cache.pop(space, None)
                raise
            for space, version in written:  # the old version is dead once the commit is done
                self.files.discard(space, version - 1)
        return changes, new_ids
