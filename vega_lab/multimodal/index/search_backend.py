"""The interface every search backend honours, and the query check they share.

Its own module because the registry (``backends``) and the implementations (``exact``,
``hnsw``) both need it: ``backends`` -> implementations -> this module.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from vega_lab.errors import IndexStoreError

__all__ = ["SearchBackend", "as_queries"]


class SearchBackend(Protocol):
    """Top-k search over labelled vectors; ``query`` returns (ids, scores), each (m, <=k)."""

    name: str

    def build(self, vectors: np.ndarray, ids: np.ndarray | None = None) -> None: ...

    def add(self, vectors: np.ndarray, ids: np.ndarray) -> None: ...

    def remove(self, ids: np.ndarray) -> None: ...

    def query(
        self, queries: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def __len__(self) -> int: ...


def as_queries(queries: np.ndarray, dim: int) -> np.ndarray:
    """(m, dim) float32 C-contiguous, from one vector or a batch."""
    q = np.asarray(queries, dtype=np.float32)
    if q.ndim == 1:
        q = q[None, :]
    if q.ndim != 2 or q.shape[1] != dim:
        raise IndexStoreError(
            f"query vectors of shape {np.shape(queries)} do not fit a {dim}-d space",
            "embed the query with the same model as the space",
        )
    return np.ascontiguousarray(q)
