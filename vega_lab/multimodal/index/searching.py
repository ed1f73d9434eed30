"""Searching a ``CrossModalIndex``: by text, by image, by example, by raw vector.

A text query is embedded in every space holding a requested modality, and the per-space
rankings are merged by standardized score (``hits.py``); an image query searches the CLIP
space only, where both images and video scenes live. Split from ``collection.py`` (adding and
storing) so each stays one idea; the mixin reads the index only through ``counts``, ``_encode``,
``get``, ``store`` and ``live``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import numpy as np

from vega_lab.errors import IndexStoreError
from vega_lab.multimodal.index.catalog import Item
from vega_lab.multimodal.index.hits import Hit, fuse, query_stats
from vega_lab.multimodal.index.ingest import MODALITIES, SPACE_OF, SPACES
from vega_lab.registry import check_name

if TYPE_CHECKING:
    from collections.abc import Sequence

    from vega_lab.multimodal.index.live import LiveBackends
    from vega_lab.multimodal.index.store import IndexStore

__all__ = ["SearchMixin"]


class SearchMixin:
    """The search half of ``CrossModalIndex``."""

    store: IndexStore
    live: LiveBackends

    if TYPE_CHECKING:  # provided by CrossModalIndex

        def counts(self) -> dict[tuple[str, str], int]: ...

        def get(self, item_id: int) -> Item: ...

        def _encode(self, space: str, inputs: Sequence[Any], texts: bool = False) -> np.ndarray: ...

    def _modalities(self, modality: str | Iterable[str] | None) -> list[str]:
        wanted = (
            list(MODALITIES)
            if modality is None
            else [modality]
            if isinstance(modality, str)
            else list(modality)
        )
        for m in wanted:
            check_name(m, MODALITIES, "modality")
        return wanted

    def _search_space(
        self, space: str, query: np.ndarray, k: int, modalities: list[str], exclude: int | None
    ) -> list[tuple[Item, float]]:
        counts = {m: n for (s, m), n in self.counts().items() if s == space}
        if not any(counts.get(m) for m in modalities) or k <= 0:
            return []
        allowed: np.ndarray | None = None
        if set(counts) - set(modalities):  # a real filter: only the wanted modalities' ids
            allowed = self.store.ids_where(space, modalities)
            if exclude is not None:
                allowed = allowed[allowed != exclude]
        extra = int(exclude is not None and allowed is None)  # ask one more, drop the item
        found, scores = self.live.search(space, query, k + extra, allowed)
        kept = [(i, s) for i, s in zip(found, scores, strict=True) if i != exclude][:k]
        items = {it.id: it for it in self.store.items([i for i, _ in kept])}
        return [(items[i], s) for i, s in kept if i in items]

    def search_text(
        self, query: str, k: int = 10, modality: str | Iterable[str] | None = None
    ) -> list[Hit]:
        """Items matching a text query, from every space holding a requested modality."""
        if not isinstance(query, str) or not query.strip():
            raise IndexStoreError("the text query is empty", "give a few words to search for")
        mods = self._modalities(modality)
        present = sorted({s for (s, m), n in self.counts().items() if n and m in mods})
        ranked, stats = [], []
        for space in present:
            q = self._encode(space, [query], texts=True)[0]
            ranked.append(
                self._search_space(space, q, k, [m for m in mods if SPACE_OF[m] == space], None)
            )
            if len(present) > 1:  # z-scores only merge spaces; one space fuses by rank
                stats.append(query_stats(self.store.stats_sample(space), q))
        return fuse(ranked, k, stats or None)

    def search_image(
        self, image: Any, k: int = 10, modality: str | Iterable[str] | None = None
    ) -> list[Hit]:
        """Images and video scenes like ``image`` (a PIL image or a path), by CLIP image-image
        similarity: a still finds the scene it was taken from. ``modality="image"`` or
        ``"video"`` keeps one kind."""
        mods = [m for m in self._modalities(modality) if SPACE_OF[m] == "clip"]
        if not mods:
            raise IndexStoreError(
                f"search_image finds images and video scenes, not {modality}",
                "use search_text for documents and transcripts",
            )
        q = self._encode("clip", [image])[0]
        return fuse([self._search_space("clip", q, k, mods, None)], k)

    def search_example(
        self, item_id: int, k: int = 10, modality: str | Iterable[str] | None = None
    ) -> list[Hit]:
        """Items like an indexed one, in its own space, the item itself left out."""
        item = self.get(item_id)
        mods = [m for m in self._modalities(modality) if SPACE_OF[m] == item.space]
        if not mods:
            raise IndexStoreError(
                f"item {item_id} is a {item.modality}; {modality} items live in another space",
                "use search_text with the item's text, or search_image with its file",
            )
        q = self.store.vector(item)
        return fuse([self._search_space(item.space, q, k, mods, item.id)], k)

    def search_vector(
        self, vector: np.ndarray, space: str, k: int = 10, modality: str | None = None
    ) -> list[Hit]:
        """Raw query vector in ``space`` ("clip" or "text"), for embeddings made elsewhere."""
        check_name(space, SPACES, "embedding space")
        mods = [m for m in self._modalities(modality) if SPACE_OF[m] == space]
        return fuse([self._search_space(space, np.asarray(vector), k, mods, None)], k)
