"""Approximate top-k with HNSW graphs (hnswlib): sub-millisecond queries on 10^5-10^6 vectors.

Labels are item ids, so removing a source marks its ids deleted (their slots are reused by later
adds) instead of rebuilding. The graph is built with one thread by default: with a fixed
``seed`` the same vectors then give the same graph and the same results (multi-threaded
insertion order is not deterministic). ``save``/``load`` persist it beside the vectors.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from vega_lab.multimodal.index.search_backend import as_queries

__all__ = ["HnswBackend"]


class HnswBackend:
    """hnswlib ``ip`` space on L2-normalised vectors: score = 1 - distance = cosine."""

    name = "hnsw"

    def __init__(
        self,
        M: int = 16,
        ef_construction: int = 200,
        ef: int = 128,
        seed: int = 0,
        threads: int = 1,
    ) -> None:
        self.params = {"M": M, "ef_construction": ef_construction, "seed": seed}
        self.ef = ef
        self.threads = threads
        self.index: Any = None
        self.dim = 0
        self._live: set[int] = set()

    def __len__(self) -> int:
        return len(self._live)

    def _new(self, dim: int, capacity: int) -> None:
        import hnswlib

        self.dim = dim
        self.index = hnswlib.Index(space="ip", dim=dim)
        self.index.init_index(
            max_elements=max(capacity, 16),
            M=self.params["M"],
            ef_construction=self.params["ef_construction"],
            random_seed=self.params["seed"],
            allow_replace_deleted=True,
        )
        self._live = set()

    def build(self, vectors: np.ndarray, ids: np.ndarray | None = None) -> None:
        v = np.ascontiguousarray(vectors, dtype=np.float32)
        self._new(v.shape[1], len(v))
        if len(v):
            self.add(v, np.arange(len(v)) if ids is None else ids)

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        v = np.ascontiguousarray(vectors, dtype=np.float32)
        if self.index is None:
            self._new(v.shape[1], len(v))
        if not len(v):
            return
        labels = np.asarray(ids, dtype=np.int64)
        needed = self.index.element_count + len(v)  # deleted slots may not all be reusable
        if needed > self.index.get_max_elements():
            self.index.resize_index(max(needed, int(self.index.get_max_elements() * 1.5)))
        self.index.add_items(v, labels, num_threads=self.threads, replace_deleted=True)
        self._live.update(int(i) for i in labels)

    def remove(self, ids: np.ndarray) -> None:
        for i in np.asarray(ids, dtype=np.int64).tolist():
            if i in self._live:
                self.index.mark_deleted(i)
                self._live.discard(i)

    def query(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        m = 1 if np.ndim(queries) == 1 else len(queries)
        empty = np.zeros((m, 0), np.int64), np.zeros((m, 0), np.float32)
        if self.index is None or not self._live:
            return empty
        q = as_queries(queries, self.dim)
        kwargs: dict[str, Any] = {"num_threads": self.threads}
        limit = len(self._live)
        if allowed is not None:
            keep = {int(i) for i in np.asarray(allowed).tolist()} & self._live
            limit = len(keep)
            kwargs = {"num_threads": 1, "filter": keep.__contains__}  # a Python callback: 1 thread
        k = min(k, limit)
        self.index.set_ef(max(self.ef, k))
        while k > 0:
            try:
                labels, dist = self.index.knn_query(q, k=k, **kwargs)
            except RuntimeError:  # the graph search reached fewer than k (heavy filtering)
                k //= 2
                continue
            return labels.astype(np.int64), (1.0 - dist).astype(np.float32)
        return empty

    # -- persistence ----------------------------------------------------------------------

    def save(self, path: Path) -> None:
        """Write the graph (temp + rename) and a JSON sidecar with the build parameters."""
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        self.index.save_index(str(tmp))
        os.replace(tmp, path)
        meta = {**self.params, "dim": self.dim, "count": len(self._live)}
        side = path.with_name(path.name.removesuffix(".bin") + ".json")
        tmp = side.with_name(f".{side.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(meta))
        os.replace(tmp, side)

    def load(self, path: Path, ids: np.ndarray) -> bool:
        """Load a saved graph if it was built with these parameters over exactly ``ids``."""
        import hnswlib

        side = path.with_name(path.name.removesuffix(".bin") + ".json")
        try:
            meta = json.loads(side.read_text())
        except (OSError, ValueError):
            return False
        if any(meta.get(k) != v for k, v in self.params.items()) or meta.get("count") != len(ids):
            return False
        index = hnswlib.Index(space="ip", dim=int(meta["dim"]))
        try:
            index.load_index(str(path), allow_replace_deleted=True)
        except (RuntimeError, OSError):
            return False
        self.index, self.dim = index, int(meta["dim"])
        self._live = {int(i) for i in np.asarray(ids).tolist()}
        return True
