"""Exact top-k by brute force: one matrix product per batch of queries, then ``argpartition``.

Perfect recall and no build step; O(n * dim) per query, which stays in the milliseconds up to
~10^5 vectors. The reference the approximate backend is measured against.
"""

from __future__ import annotations

import numpy as np

from vega_lab.multimodal.index.search_backend import as_queries

__all__ = ["ExactBackend", "top_k"]


def top_k(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of the ``k`` largest scores per row, best first."""
    n = scores.shape[1]
    k = min(k, n)
    if k <= 0:
        empty = np.zeros((scores.shape[0], 0))
        return empty.astype(np.int64), empty.astype(np.float32)
    if k < n:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    else:
        part = np.broadcast_to(np.arange(n), scores.shape)
    vals = np.take_along_axis(scores, part, axis=1)
    order = np.argsort(-vals, axis=1, kind="stable")
    return np.take_along_axis(part, order, axis=1), np.take_along_axis(vals, order, axis=1)


class ExactBackend:
    """Vectors kept as one C-contiguous float32 matrix; ``batch`` queries scored at a time."""

    name = "exact"

    def __init__(self, batch: int = 64) -> None:
        self.batch = batch
        self.ids = np.zeros(0, np.int64)
        self.vectors: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    def build(self, vectors: np.ndarray, ids: np.ndarray | None = None) -> None:
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        n = len(self.vectors)
        self.ids = np.arange(n, dtype=np.int64) if ids is None else np.asarray(ids, np.int64)

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None:
        if self.vectors is None:
            self.build(vectors, ids)
            return
        self.vectors = np.concatenate([self.vectors, np.asarray(vectors, np.float32)])
        self.ids = np.concatenate([self.ids, np.asarray(ids, np.int64)])

    def remove(self, ids: np.ndarray) -> None:
        keep = ~np.isin(self.ids, np.asarray(ids, np.int64))
        if self.vectors is not None and not keep.all():
            self.vectors, self.ids = np.ascontiguousarray(self.vectors[keep]), self.ids[keep]

    def query(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        if self.vectors is None or not len(self.ids):
            m = 1 if np.ndim(queries) == 1 else len(queries)
            return np.zeros((m, 0), np.int64), np.zeros((m, 0), np.float32)
        q = as_queries(queries, self.vectors.shape[1])
        mat, ids = self.vectors, self.ids
        if allowed is not None:  # score only the allowed rows: cheaper than masking all of them
            rows = np.flatnonzero(np.isin(ids, np.asarray(allowed, np.int64)))
            mat, ids = mat[rows], ids[rows]
        out_ids, out_scores = [], []
        for start in range(0, len(q), self.batch):
            scores = q[start : start + self.batch] @ mat.T
            cols, vals = top_k(scores, k)
            out_ids.append(ids[cols])
            out_scores.append(vals.astype(np.float32))
        return np.concatenate(out_ids), np.concatenate(out_scores)
