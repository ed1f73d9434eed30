"""Search results, and how results from two embedding spaces are merged.

CLIP cosines (text->image, typically 0.2-0.35 with little spread) and MiniLM cosines (text->text,
-0.1-0.9) come from different models and are not on one scale. Sorting them together would
always put text first; reciprocal rank fusion (interleaving rank 1 of each list, then rank 2...)
was tried first and put a barely-related image above the one page that answers a document
query, because every space's best item counts alike however weak it is.

So a query searched in several spaces is merged by **standardized score**: each hit's cosine
becomes a z-score against the cosines of that query with the items of its own space (mean and
standard deviation over the space, or over a seeded sample of 4096 items when it is larger),
i.e. "how far this item stands out in its space". The standard deviation is shrunk toward 0.1
(weight: 10 items), so that in a space of five items a cosine of 0.05 does not count as
standing out just because the other four are at 0.0. A page that matches a text query stands many
deviations above the other chunks; the best image for an off-topic text does not. ``Hit.score``
stays the cosine in the hit's own space; ``Hit.fused`` is what the merged list is sorted by (the
z-score, or for a single-space search the reciprocal rank, which orders like the cosine).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vega_lab.multimodal.index.catalog import Item

__all__ = ["RRF_K", "STATS_SAMPLE", "Hit", "fuse", "query_stats", "stats_sample"]

RRF_K = 60
STATS_SAMPLE = 4096  # items per space the z-score statistics are computed on
PRIOR_SD, PRIOR_N = 0.1, 10  # the spread a small space's std is shrunk toward, and its weight


@dataclass(frozen=True)
class Hit:
    """One result: the item, its cosine ``score`` in its own space, its ``rank`` there (1 best)."""

    item: Item
    score: float
    rank: int
    fused: float

    @property
    def modality(self) -> str:
        return self.item.modality

    @property
    def source(self) -> str:
        return self.item.source

    @property
    def locator(self) -> dict[str, Any]:
        return self.item.locator

    @property
    def space(self) -> str:
        return self.item.space

    @property
    def snippet(self) -> str:
        text = " ".join(self.item.text.split())
        return text if len(text) <= 200 else text[:199] + "…"

    @property
    def where(self) -> str:
        """Human-readable place: ``report.pdf p. 3``, ``talk.wav 0:12-0:19``, ``cat.png``."""
        name, loc = Path(self.source).name, self.locator
        if loc.get("page") is not None:
            return f"{name} p. {loc['page']}"
        if "start" in loc:
            return f"{name} {_clock(loc['start'])}-{_clock(loc['end'])}"
        if loc.get("chunk") is not None:
            return f"{name} #{loc['chunk']}"
        return name

    def __str__(self) -> str:
        return f"{self.score:.3f} [{self.modality}] {self.where}: {self.snippet[:80]}"


def _clock(seconds: float) -> str:
    m, s = divmod(round(seconds), 60)
    return f"{m}:{s:02d}"


def stats_sample(vectors: np.ndarray, seed: int = 0) -> np.ndarray:
    """The vectors ``query_stats`` uses: all of a small space, a seeded sample of a large one.

    The same for every query, so a searcher computes it once per space version (the store
    caches it) instead of drawing and copying 4096 rows per query.
    """
    if len(vectors) <= STATS_SAMPLE:
        return vectors
    rows = np.random.default_rng(seed).choice(len(vectors), STATS_SAMPLE, replace=False)
    return vectors[np.sort(rows)]


def query_stats(vectors: np.ndarray, query: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """Mean and (shrunk) standard deviation of ``query``'s cosines with a space's vectors
    (or with ``stats_sample(vectors)``, which gives the same numbers)."""
    vectors = stats_sample(vectors, seed)
    if len(vectors) < 2:
        return 0.0, 1.0
    scores = vectors @ query.astype(vectors.dtype, copy=False)
    n = len(scores)
    # Shrink the spread toward PRIOR_SD as if PRIOR_N more items had it: with a handful of
    # items the sample std is noise, and a tiny one would blow every z-score up.
    var = (n * float(scores.var()) + PRIOR_N * PRIOR_SD**2) / (n + PRIOR_N)
    return float(scores.mean()), max(var**0.5, 1e-6)


def fuse(
    ranked: Sequence[list[tuple[Item, float]]],
    k: int,
    stats: Sequence[tuple[float, float]] | None = None,
) -> list[Hit]:
    """Merge per-space ranked lists (best first) into ``k`` hits.

    With ``stats`` (one (mean, std) per list, from ``query_stats``) hits are ordered by
    z-score; without, by reciprocal rank (the single-space case, where it orders like the
    cosine).
    """
    hits = [
        Hit(
            item,
            float(score),
            rank,
            (score - stats[i][0]) / stats[i][1] if stats is not None else 1.0 / (RRF_K + rank),
        )
        for i, results in enumerate(ranked)
        for rank, (item, score) in enumerate(results, start=1)
    ]
    hits.sort(key=lambda h: (-h.fused, -h.score, h.item.id))
    return hits[:k]
