"""The cross-modal index: one persisted collection of image, document and transcript vectors.

``CrossModalIndex(path)`` adds folders (images -> CLIP; documents -> chunks -> MiniLM;
recordings -> transcript passages -> MiniLM) and searches them by text, by image or by example,
with a modality filter. Exact numpy search by default, HNSW (hnswlib) for large spaces.

    idx = CrossModalIndex("data/index")           # a folder; reopen it any time
    idx.add_folder("data/field-trip")             # -> BatchResult: added / unchanged / skipped
    for hit in idx.search_text("a photo of a red circle", k=5, modality="image"):
        print(hit)                                # 0.312 [image] 0003_red_circle.png: ...
    idx.search_example(hit.item.id)               # more like this one (same space)

Storage layout and crash safety: ``store.py``; merging two spaces' rankings: ``hits.py``.
"""

from __future__ import annotations

from vega_lab.multimodal.index.backends import (
    BACKENDS,
    HNSW_THRESHOLD,
    SearchBackend,
    make_backend,
    register_backend,
    resolve_backend,
)
from vega_lab.multimodal.index.catalog import Item, SourceRecord, SpaceInfo
from vega_lab.multimodal.index.collection import AddResult, CrossModalIndex
from vega_lab.multimodal.index.exact import ExactBackend
from vega_lab.multimodal.index.hits import RRF_K, Hit, fuse, query_stats
from vega_lab.multimodal.index.ingest import MODALITIES, SPACE_OF
from vega_lab.multimodal.index.store import IndexStore

__all__ = [
    "BACKENDS",
    "HNSW_THRESHOLD",
    "MODALITIES",
    "RRF_K",
    "SPACE_OF",
    "AddResult",
    "CrossModalIndex",
    "ExactBackend",
    "Hit",
    "IndexStore",
    "Item",
    "SearchBackend",
    "SourceRecord",
    "SpaceInfo",
    "fuse",
    "make_backend",
    "query_stats",
    "register_backend",
    "resolve_backend",
]
