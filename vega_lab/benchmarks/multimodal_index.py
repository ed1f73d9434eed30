"""`bench_index`: search latency and recall of the cross-modal index's backends, side by side.

Data: uniformly random unit vectors are a weak test of approximate search (every point is
nearly equidistant from every other in high dimension, which is both unrealistically hard for
HNSW and unlike real embeddings), so the vectors are a **Gaussian mixture**: ``centres`` unit
centres, each point a centre plus isotropic noise (``spread``), re-normalised; queries are fresh
draws from the same mixture, never points of the collection. With the defaults a point's cosine
to its centre is ~0.7, roughly the similarity of a MiniLM sentence to its topic.

Per size, every query runs through each contender in a rotating order (machine noise hits all
alike), one query at a time (the interactive case), and medians / p95 are reported. BLAS is
limited to ``blas_threads`` (default 1) while timing, so every contender runs on one core like
the HNSW queries do: on a busy machine multi-threaded BLAS turns a 1 ms single-query matmul
into tens of ms of thread hand-off, which would measure contention rather than the method.
- ``exact``: our numpy backend (matmul + argpartition);
- ``hnsw``: our hnswlib backend (M=16, ef_construction=200, ef=128 unless given), with its
  build time and recall@k against exact;
- ``sklearn_brute``: scikit-learn ``NearestNeighbors(algorithm="brute", metric="cosine")``, the
  naive baseline a researcher would otherwise write (skipped if scikit-learn is missing);
- ``index_*``: the whole ``CrossModalIndex.search_vector`` path (backend + SQLite item lookup),
  after writing the vectors through the store (write rate reported).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["bench_index", "clustered_vectors"]


def clustered_vectors(
    n: int, dim: int, centres: int, spread: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(points, centres): ``n`` unit vectors around ``centres`` random unit centres."""
    c = rng.standard_normal((centres, dim)).astype(np.float32)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    return _around(c, n, spread, rng), c


def _around(c: np.ndarray, n: int, spread: float, rng: np.random.Generator) -> np.ndarray:
    pts = c[rng.integers(0, len(c), n)] + spread * rng.standard_normal((n, c.shape[1]))
    pts = pts.astype(np.float32)
    return pts / np.linalg.norm(pts, axis=1, keepdims=True)


def _ms(samples: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(samples) * 1000, 4),
        "p95_ms": round(float(np.percentile(samples, 95)) * 1000, 4),
    }


def _recall(truth: np.ndarray, found: np.ndarray, k: int) -> float:
    return float(
        np.mean([len(set(a[:k]) & set(b[:k])) / k for a, b in zip(truth, found, strict=True)])
    )


def _through_index(
    vectors: np.ndarray, backend: str, folder: Path, hnsw_params: dict[str, Any]
) -> tuple[Any, float]:
    """A CrossModalIndex holding ``vectors`` as transcript passages of 100 fake recordings."""
    from vega_lab.multimodal.index import CrossModalIndex
    from vega_lab.multimodal.index.store import SourceWrite

    idx = CrossModalIndex(folder, backend=backend, hnsw_params=hnsw_params)
    per = max(1, len(vectors) // 100)
    writes = [
        SourceWrite(
            source=f"/bench/recording{s:03d}.wav",
            sha256=f"{s:064x}",
            size=0,
            modality="transcript",
            space="text",
            embedder="bench:gaussian-mixture",
            drafts=[
                {"modality": "transcript", "locator": {"start": i, "end": i + 1}, "text": "x"}
                for i in range(len(part))
            ],
            vectors=part,
        )
        for s, part in enumerate(np.array_split(vectors, max(1, len(vectors) // per)))
    ]
    t0 = time.perf_counter()
    idx.store.write(writes)
    return idx, time.perf_counter() - t0


def _contenders(
    vecs: np.ndarray,
    k: int,
    params: dict[str, Any],
    build_threads: int,
    through_index: bool,
    tmp: Path,
) -> tuple[dict[str, Callable[[np.ndarray], Any]], dict[str, Any]]:
    """Each contender as ``query vector -> row indices``, built over ``vecs``; build figures.

    With ``through_index`` the HNSW graph timed is the one the index builds for itself (labels
    are item ids = row + 1), so it is built once, not twice.
    """
    from vega_lab.multimodal.index.exact import ExactBackend
    from vega_lab.multimodal.index.hnsw import HnswBackend

    exact = ExactBackend()
    exact.build(vecs)
    figures: dict[str, Any] = {}
    contenders: dict[str, Callable[[np.ndarray], Any]] = {
        "exact": lambda q: exact.query(q, k)[0][0],
    }
    build_params = {**params, "threads": build_threads}
    if through_index:
        for backend in ("exact", "hnsw"):
            idx, write_s = _through_index(vecs, backend, tmp / backend, build_params)
            figures[f"index_{backend}_write_items_per_s"] = round(len(vecs) / write_s)
            t0 = time.perf_counter()
            live = idx.live.get("text")[0]  # built here, before any query is timed
            if backend == "hnsw":
                figures["hnsw_build_s"] = round(time.perf_counter() - t0, 3)
                hnsw = live

            def search(q: np.ndarray, idx: Any = idx) -> list[int]:
                return [h.item.id - 1 for h in idx.search_vector(q, "text", k)]

            contenders[f"index_{backend}"] = search
    else:
        t0 = time.perf_counter()
        hnsw = HnswBackend(**build_params)
        hnsw.build(vecs)
        figures["hnsw_build_s"] = round(time.perf_counter() - t0, 3)
    hnsw.threads = 1  # queries: one thread, like an interactive search
    contenders["hnsw"] = lambda q: hnsw.query(q, k)[0][0] - int(through_index)
    try:
        from sklearn.neighbors import NearestNeighbors
    except ImportError:
        pass
    else:
        nn = NearestNeighbors(n_neighbors=k, algorithm="brute", metric="cosine").fit(vecs)
        contenders["sklearn_brute"] = lambda q: nn.kneighbors(q[None, :], k)[1][0]
    return contenders, figures


def bench_index(
    sizes: Sequence[int] = (10_000, 100_000),
    dim: int = 384,
    queries: int = 200,
    k: int = 10,
    centres: int = 500,
    spread: float = 0.052,
    seed: int = 0,
    hnsw_params: dict[str, Any] | None = None,
    build_threads: int = 1,
    through_index: bool = True,
    blas_threads: int | None = 1,
) -> dict[str, Any]:
    """Latency (median/p95 ms per single query), HNSW build time and recall@k, per size."""
    from threadpoolctl import threadpool_limits

    params = {"M": 16, "ef_construction": 200, "ef": 128, "seed": seed, **(hnsw_params or {})}
    rng = np.random.default_rng(seed)
    out: dict[str, Any] = {
        "data": f"gaussian mixture: {centres} centres, spread {spread}, dim {dim}, seed {seed}",
        "k": k,
        "queries": queries,
        "hnsw_params": params,
        "blas_threads": blas_threads,
        "hnsw_build_threads": build_threads,
        "sizes": {},
    }
    for n in sizes:
        vecs, c = clustered_vectors(n, dim, centres, spread, rng)
        qs = _around(c, queries, spread, rng)
        with (
            tempfile.TemporaryDirectory(prefix="vega-bench-index-") as tmp,
            threadpool_limits(blas_threads),
        ):
            row = _measure(vecs, qs, k, params, build_threads, through_index, Path(tmp))
        out["sizes"][str(n)] = row
    return out


def _measure(
    vecs: np.ndarray,
    qs: np.ndarray,
    k: int,
    params: dict[str, Any],
    build_threads: int,
    through_index: bool,
    tmp: Path,
) -> dict[str, Any]:
    contenders, row = _contenders(vecs, k, params, build_threads, through_index, tmp)
    names = list(contenders)
    times: dict[str, list[float]] = {name: [] for name in names}
    found: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for i, q in enumerate(qs):  # rotate the order so no contender always runs first
        for name in names[i % len(names) :] + names[: i % len(names)]:
            t0 = time.perf_counter()
            res = contenders[name](q)
            times[name].append(time.perf_counter() - t0)
            found[name].append(np.asarray(res))
    truth = np.array(found["exact"])
    for name in names:
        row[name] = _ms(times[name])
        if name != "exact":
            row[f"{name}_recall_at_k"] = round(_recall(truth, np.array(found[name]), k), 4)
    row["exact_over_hnsw_speedup"] = round(
        row["exact"]["median_ms"] / max(row["hnsw"]["median_ms"], 1e-9), 1
    )
    return row


if __name__ == "__main__":  # python -m vega_lab.benchmarks.multimodal_index
    import json

    print(json.dumps(bench_index(), indent=2))
