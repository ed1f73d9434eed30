"""Search backends by name: ``exact`` (numpy) and ``hnsw`` (hnswlib), one interface.

A backend holds the vectors of one embedding space, labelled by item id, and answers top-k
cosine queries (vectors are L2-normalised, so cosine = dot product). ``auto`` picks ``hnsw`` at
or above ``HNSW_THRESHOLD`` vectors: below it an exact scan is fast enough (a 50k x 384 matmul is
a few ms per query on one core) and has perfect recall, so approximation buys nothing.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from vega_lab.errors import IndexStoreError, UnknownNameError

__all__ = [
    "BACKENDS",
    "HNSW_THRESHOLD",
    "SearchBackend",
    "make_backend",
    "register_backend",
    "resolve_backend",
]

HNSW_THRESHOLD = 50_000


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


def _exact(**params: Any) -> SearchBackend:
    from vega_lab.multimodal.index.exact import ExactBackend

    return ExactBackend(**params)


def _hnsw(**params: Any) -> SearchBackend:
    if importlib.util.find_spec("hnswlib") is None:
        raise IndexStoreError(
            "the hnsw backend needs hnswlib, which is not installed",
            "install the docs extra (pip install 'vega-lab[docs]') or use backend='exact'",
        )
    from vega_lab.multimodal.index.hnsw import HnswBackend

    return HnswBackend(**params)


BACKENDS: dict[str, Callable[..., SearchBackend]] = {"exact": _exact, "hnsw": _hnsw}


def register_backend(name: str, factory: Callable[..., SearchBackend]) -> None:
    """Add a backend (e.g. FAISS) under ``name``; it must honour the ``SearchBackend`` protocol."""
    BACKENDS[name] = factory


def resolve_backend(name: str, n_vectors: int, threshold: int = HNSW_THRESHOLD) -> str:
    """``auto`` -> ``hnsw`` for large spaces (if hnswlib is installed), else ``exact``."""
    if name == "auto":
        large = n_vectors >= threshold and importlib.util.find_spec("hnswlib") is not None
        return "hnsw" if large else "exact"
    if name not in BACKENDS:
        raise UnknownNameError(
            f"unknown search backend {name!r}",
            f"use one of: auto, {', '.join(sorted(BACKENDS))}",
        )
    return name


def make_backend(name: str, **params: Any) -> SearchBackend:
    try:
        factory = BACKENDS[name]
    except KeyError:
        raise UnknownNameError(
            f"unknown search backend {name!r}", f"use one of: {', '.join(sorted(BACKENDS))}"
        ) from None
    return factory(**params)


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
