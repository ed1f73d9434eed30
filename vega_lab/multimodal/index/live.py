"""Keeping each space's search backend in step with the store, without needless rebuilds.

A backend is keyed by the space's committed version. After a write in this process a live HNSW
graph follows the change in place (mark deleted + add) instead of a rebuild; a graph is saved
beside its version's vectors, so the next process loads it instead of building it again; any
other mismatch (another process wrote, the parameters changed) rebuilds from the vectors.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import numpy as np

from vega_lab.multimodal.index.backends import SearchBackend, make_backend, resolve_backend
from vega_lab.multimodal.index.store import IndexStore, SpaceChange

__all__ = ["LiveBackends"]


@dataclass
class _Live:
    version: int
    name: str
    backend: SearchBackend
    saved: bool


class LiveBackends:
    """One backend per space for a ``backend`` choice ("auto", "exact", "hnsw", ...)."""

    def __init__(
        self, store: IndexStore, backend: str, threshold: int, hnsw_params: dict[str, Any]
    ) -> None:
        resolve_backend(backend, 0, threshold)  # an unknown name fails now, not at a search
        self.store, self.choice, self.threshold = store, backend, threshold
        self.hnsw_params = dict(hnsw_params)
        self._live: dict[str, _Live] = {}
        self._lock = threading.RLock()

    def name_for(self, n_vectors: int) -> str:
        return resolve_backend(self.choice, n_vectors, self.threshold)

    def _make(self, name: str) -> SearchBackend:
        return make_backend(name, **(self.hnsw_params if name == "hnsw" else {}))

    def get(self, space: str) -> tuple[SearchBackend, np.ndarray, np.ndarray]:
        """The space's backend for its committed version, plus that version's (ids, vectors)."""
        version, ids, vecs = self.store.matrix(space)
        name = self.name_for(len(ids))
        with self._lock:
            live = self._live.get(space)
            if live is None or (live.version, live.name) != (version, name):
                b = self._make(name)
                path = self.store.files.path(space, version, "hnsw")
                loaded = name == "hnsw" and b.load(path, ids)  # type: ignore[attr-defined]
                if not loaded:
                    b.build(vecs, ids)
                live = self._live[space] = _Live(version, name, b, saved=name != "hnsw")
        self.persist()
        return live.backend, ids, vecs

    def follow(self, changes: dict[str, SpaceChange]) -> None:
        """After a write: update a live HNSW graph in place; drop the others (rebuilt lazily)."""
        with self._lock:
            for space, ch in changes.items():
                live = self._live.pop(space, None)
                if live is None or live.name != "hnsw" or live.version != ch.version - 1:
                    continue
                n_new = len(live.backend) - len(ch.removed_ids) + len(ch.added_ids)
                if self.name_for(n_new) == "hnsw":
                    live.backend.remove(ch.removed_ids)
                    live.backend.add(ch.added_vectors, ch.added_ids)
                    self._live[space] = _Live(ch.version, "hnsw", live.backend, saved=False)

    def persist(self) -> None:
        """Save graphs not yet on disk (they are a cache: a failed save only costs a rebuild)."""
        with self._lock:
            for space, live in self._live.items():
                if live.name == "hnsw" and not live.saved:
                    path = self.store.files.path(space, live.version, "hnsw")
                    try:
                        live.backend.save(path)  # type: ignore[attr-defined]
                    except OSError:
                        continue
                    live.saved = True

    def search(
        self, space: str, query: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> tuple[list[int], list[float]]:
        """Top-k (ids, cosines) for one query vector, restricted to ``allowed`` ids if given.

        A filtered query over fewer than ``threshold`` allowed vectors scans them exactly, as
        vector databases do: graph search with a selective filter is slower and loses recall.
        """
        backend, ids, vecs = self.get(space)
        if allowed is not None and backend.name != "exact" and len(allowed) < self.threshold:
            rows = np.isin(ids, allowed)
            backend = make_backend("exact")
            backend.build(np.asarray(vecs)[rows], ids[rows])
            allowed = None
        found, scores = backend.query(query, k, allowed)
        return found[0].tolist(), scores[0].tolist()
