"""Search backends by name: ``exact`` (numpy) and ``hnsw`` (hnswlib), one interface.

A backend holds the vectors of one embedding space, labelled by item id, and answers top-k
cosine queries (vectors are L2-normalised, so cosine = dot product). ``auto`` picks ``hnsw`` at
or above ``HNSW_THRESHOLD`` vectors: below it an exact scan is fast enough (a 50k x 384 matmul is
a few ms per query on one core) and has perfect recall, so approximation buys nothing.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable
from typing import Any

from vega_lab.errors import IndexStoreError
from vega_lab.multimodal.index.search_backend import SearchBackend, as_queries
from vega_lab.registry import check_name, lookup

__all__ = [
    "BACKENDS",
    "HNSW_THRESHOLD",
    "SearchBackend",
    "as_queries",
    "make_backend",
    "register_backend",
    "resolve_backend",
]

HNSW_THRESHOLD = 50_000


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
    return check_name(name, ["auto", *BACKENDS], "search backend")


def make_backend(name: str, **params: Any) -> SearchBackend:
    return lookup(BACKENDS, name, "search backend")(**params)
