"""Search results, and how results from two embedding spaces are merged.

CLIP cosines (text->image, typically 0.2-0.35) and MiniLM cosines (text->text, 0.3-0.9) come
from different models and are not on one scale: sorting them together would always put text
first. So a query searched in both spaces is merged by **reciprocal rank fusion**
(Cormack et al., 2009): each hit scores ``1 / (RRF_K + rank)`` from its own list, which
interleaves the two rankings (rank 1 of each, then rank 2 of each, ...). Ties between equal
ranks are broken by the raw cosine, which is only a tiebreak. ``Hit.score`` stays the cosine in
the hit's own space; ``Hit.fused`` is the fusion score the merged list is sorted by.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vega_lab.multimodal.index.catalog import Item

__all__ = ["RRF_K", "Hit", "fuse"]

RRF_K = 60


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


def fuse(ranked: Sequence[list[tuple[Item, float]]], k: int) -> list[Hit]:
    """Merge per-space ranked lists (best first) into ``k`` hits by reciprocal rank fusion."""
    hits = [
        Hit(item, float(score), rank, 1.0 / (RRF_K + rank))
        for results in ranked
        for rank, (item, score) in enumerate(results, start=1)
    ]
    hits.sort(key=lambda h: (-h.fused, -h.score, h.item.id))
    return hits[:k]
