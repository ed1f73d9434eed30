"""``CrossModalIndex``: add folders of images, videos, documents and recordings; search them.

Two embedding spaces live side by side: ``clip`` (images and video scenes, queried by text
through CLIP's text tower or by an image) and ``text`` (document chunks, and transcript passages
spoken in a recording or a video's soundtrack: MiniLM). A video contributes to both, written
in one transaction. Searching (and merging the spaces' rankings) is in ``searching.py``.
Embedders load lazily: an index of documents never loads CLIP, and an index opened only to
list its items loads no model at all.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vega_lab.errors import IndexStoreError
from vega_lab.multimodal.batch import BatchResult, iter_files, process_files
from vega_lab.multimodal.index.backends import HNSW_THRESHOLD, resolve_backend
from vega_lab.multimodal.index.catalog import Item, SourceRecord, check_embedder
from vega_lab.multimodal.index.ingest import (
    SPACES,
    Pending,
    embed_batch,
    modality_of,
    prepare,
    recipe,
)
from vega_lab.multimodal.index.live import LiveBackends
from vega_lab.multimodal.index.searching import SearchMixin
from vega_lab.multimodal.index.store import IndexStore, SourceWrite, file_sha256, source_key
from vega_lab.registry import check_name

__all__ = ["AddResult", "CrossModalIndex"]


@dataclass(frozen=True)
class AddResult:
    """What adding one file did: ``status`` is "added", "replaced" or "unchanged"."""

    source: str
    modality: str
    status: str
    item_ids: tuple[int, ...]


class CrossModalIndex(SearchMixin):
    """A persisted index in folder ``path`` (created if missing); see the module docstring.

    ``backend``: "auto" (exact below ``hnsw_threshold`` vectors per space, hnsw above),
    "exact" or "hnsw"; ``hnsw_params`` go to ``HnswBackend`` (M, ef_construction, ef, seed).
    """

    def __init__(
        self,
        path: str | Path,
        clip: Any = None,
        text_embedder: Any = None,
        *,
        backend: str = "auto",
        hnsw_threshold: int = HNSW_THRESHOLD,
        hnsw_params: dict[str, Any] | None = None,
        thumbnails: bool = True,
    ) -> None:
        resolve_backend(backend, 0)  # an unknown name fails before any folder is created
        self.store = IndexStore(path)
        self.path = self.store.folder
        self.live = LiveBackends(self.store, backend, hnsw_threshold, hnsw_params or {})
        self.thumbnails = thumbnails
        self._embedders: dict[str, Any] = {}
        for space, emb in (("clip", clip), ("text", text_embedder)):
            if emb is not None:
                self._check(space, emb)
                self._embedders[space] = emb
        self._lock = threading.RLock()
        self._counts: tuple[tuple[tuple[str, int], ...], dict[tuple[str, str], int]] | None = None

    def __repr__(self) -> str:
        return f"CrossModalIndex({str(self.path)!r}, items={len(self)})"

    def __len__(self) -> int:
        return sum(self.counts().values())

    def counts(self) -> dict[tuple[str, str], int]:
        """Items per (space, modality); cached until a space's version moves (any write)."""
        key = tuple((s.name, s.version) for s in self.store.spaces().values())
        if self._counts is None or self._counts[0] != key:
            self._counts = (key, self.store.catalog.counts())
        return self._counts[1]

    def __contains__(self, source: object) -> bool:
        return isinstance(source, (str, Path)) and self.store.source(source) is not None

    # -- embedders ------------------------------------------------------------------------

    def _check(self, space: str, emb: Any) -> None:
        info = self.store.spaces().get(space)
        if info is not None:
            check_embedder(info, str(emb.name), int(emb.dim))

    def embedder(self, space: str) -> Any:
        """The space's embedder, loaded on first use (and checked against the index)."""
        if space not in self._embedders:
            check_name(space, SPACES, "embedding space")
            if space == "clip":
                from vega_lab.multimodal.image.clip import load_clip

                emb = load_clip()
            else:
                from vega_lab.multimodal.document.embed import load_text_embedder

                emb = load_text_embedder()
            self._check(space, emb)
            self._embedders[space] = emb
        return self._embedders[space]

    def _encode(self, space: str, inputs: Sequence[Any], texts: bool = False) -> np.ndarray:
        emb = self.embedder(space)
        if space == "clip":
            return emb.encode_texts(list(inputs)) if texts else emb.encode_images(list(inputs))
        return emb.encode(list(inputs))

    # -- adding ---------------------------------------------------------------------------

    def add(self, path: str | Path) -> AddResult:
        """Add one file, its kind chosen by suffix; bad input raises its ``MultimodalError``."""
        return self._add_one(Path(path), modality_of(Path(path)), {})

    def add_image(self, path: str | Path) -> AddResult:
        return self._add_one(Path(path), "image", {})

    def add_document(
        self,
        path: str | Path,
        *,
        max_chars: int = 800,
        overlap: int = 100,
        read_options: dict[str, Any] | None = None,
    ) -> AddResult:
        opts = {"max_chars": max_chars, "overlap": overlap, "read_options": read_options}
        return self._add_one(Path(path), "document", opts)

    def add_transcript(
        self, path: str | Path, transcript: Any = None, *, passage_chars: int = 300
    ) -> AddResult:
        """Add a recording; pass a ``Transcript`` you already have to skip transcribing.

        Consecutive segments are joined into passages of about ``passage_chars`` characters.
        """
        opts = {"transcript": transcript, "passage_chars": passage_chars}
        return self._add_one(Path(path), "transcript", opts)

    def add_video(
        self,
        path: str | Path,
        transcript: Any = None,
        *,
        max_scenes: int = 32,
        scene_threshold: float = 0.25,
        min_scene_s: float = 0.5,
        frame_side: int = 448,
        passage_chars: int = 300,
    ) -> AddResult:
        """Add a video: one "video" item per scene (its middle frame, at most ``frame_side``
        pixels, through CLIP) and its soundtrack's speech as "transcript" items.

        Cuts are found by ``video.scene_boundaries(threshold, min_gap_s=min_scene_s)``; of more
        than ``max_scenes`` scenes, evenly spread ones are kept, so a long video costs at most
        ``max_scenes`` CLIP images. No audio track, or no speech in it: frames only. Pass a
        ``Transcript`` you already have to skip transcribing.
        """
        opts = {
            "transcript": transcript,
            "max_scenes": max_scenes,
            "scene_threshold": scene_threshold,
            "min_scene_s": min_scene_s,
            "frame_side": frame_side,
            "passage_chars": passage_chars,
        }
        return self._add_one(Path(path), "video", opts)

    def _add_one(self, path: Path, modality: str, options: dict[str, Any]) -> AddResult:
        planned = self._plan(path, modality, options)
        if isinstance(planned, AddResult):
            return planned
        (result,) = self._write([(p, self._encode(p.space, p.inputs)) for p in planned])
        self.live.persist()
        return result

    def add_folder(
        self,
        folder: str | Path,
        *,
        batch_files: int = 32,
        max_chars: int = 800,
        overlap: int = 100,
        read_options: dict[str, Any] | None = None,
        passage_chars: int = 300,
        max_scenes: int = 32,
        scene_threshold: float = 0.25,
    ) -> BatchResult[AddResult]:
        """Index every supported file under ``folder``; unsupported or bad files are skipped
        (with the reason) and the rest indexed. Files are embedded and committed
        ``batch_files`` at a time, so an interruption keeps every batch already written.
        Options are those of ``add_document``/``add_transcript``/``add_video``."""
        opts = {
            "max_chars": max_chars,
            "overlap": overlap,
            "read_options": read_options,
            "passage_chars": passage_chars,
            "max_scenes": max_scenes,
            "scene_threshold": scene_threshold,
        }
        files = [p for p in iter_files(folder) if not p.resolve().is_relative_to(self.path)]
        result: BatchResult[AddResult] = BatchResult()
        for start in range(0, len(files), max(1, batch_files)):
            chunk = files[start : start + max(1, batch_files)]
            planned = process_files(chunk, lambda p: self._plan(p, modality_of(p), opts))
            result.skipped += planned.skipped
            pending: list[Pending] = []
            for _, out in planned.items:
                if isinstance(out, AddResult):
                    result.items.append((Path(out.source), out))
                else:
                    pending += out
            embedded, skipped = embed_batch(pending, self._encode)
            result.skipped += skipped
            result.items += [(Path(r.source), r) for r in self._write(embedded)]
        self.live.persist()
        return result

    def _plan(
        self, path: Path, modality: str, options: dict[str, Any]
    ) -> AddResult | list[Pending]:
        """An ``AddResult`` if the file is already indexed unchanged, else its items to embed
        (one ``Pending`` per space)."""
        if not path.is_file():
            raise IndexStoreError(f"{path} does not exist or is not a file", "check the path")
        key, sha = source_key(path), file_sha256(path)
        rec = self.store.catalog.source(key)
        how = recipe(modality, **options)
        if rec is not None and (rec.sha256, rec.modality, rec.recipe) == (sha, modality, how):
            ids = tuple(self.store.catalog.source_item_ids(key))
            return AddResult(key, modality, "unchanged", ids)
        thumbs = self.store.thumbs if self.thumbnails else None
        return prepare(Path(key), sha, modality, thumbs=thumbs, **options)

    def _write(self, embedded: list[tuple[Pending, np.ndarray]]) -> list[AddResult]:
        """Commit files' items in one transaction; one result per file, whatever its parts."""
        if not embedded:
            return []
        writes = [
            SourceWrite(
                source=str(p.path),
                sha256=p.sha256,
                size=p.size,
                modality=p.modality,
                space=p.space,
                embedder=str(self.embedder(p.space).name),
                drafts=p.drafts,
                vectors=vecs,
                recipe=p.recipe,
            )
            for p, vecs in embedded
        ]
        before = {w.source: self.store.catalog.source(w.source) for w in writes}
        parts = {src: [w.source for w in writes].count(src) for src in before}
        with self._lock:
            changes, new_ids = self.store.write(writes)  # one SourceWrite per space of a file
            self.live.follow(changes)
            ids = {
                src: self.store.catalog.source_item_ids(src) if n > 1 else new_ids[src]
                for src, n in parts.items()
            }
        self._drop_thumbs([r.sha256 for r in before.values() if r is not None])
        modality = {w.source: w.modality for w in writes}
        return [
            AddResult(src, modality[src], "added" if rec is None else "replaced", tuple(ids[src]))
            for src, rec in before.items()
        ]

    def remove(self, source: str | Path) -> int:
        """Remove a file's items (and its thumbnail); returns how many items went (0 if none)."""
        key = source_key(source)
        rec = self.store.catalog.source(key)
        if rec is None:
            return 0
        n = len(self.store.catalog.source_item_ids(key))
        with self._lock:
            changes, _ = self.store.write([], removals=[key])
            self.live.follow(changes)
        self._drop_thumbs([rec.sha256])
        self.live.persist()
        return n

    def _drop_thumbs(self, shas: list[str]) -> None:
        """Delete thumbnails no item points at any more: a removed or changed image or video,
        or the frames of scenes a video re-indexed with other scene options no longer has."""
        for sha in set(shas):
            used = {Path(t).name for t in self.store.catalog.thumbnails_of(sha)}
            for thumb in self.store.thumbs.glob(f"{sha[:32]}*.jpg"):
                if thumb.name not in used:
                    thumb.unlink(missing_ok=True)

    # -- inspection -----------------------------------------------------------------------

    def get(self, item_id: int) -> Item:
        found = self.store.items([int(item_id)])
        if not found:
            raise IndexStoreError(f"no item {item_id} in {self.path}", "ids come from search hits")
        return found[0]

    def items(self, modality: str | None = None) -> list[Item]:
        if modality is not None:
            self._modalities(modality)
        return self.store.catalog.items(modality=modality)

    def sources(self) -> list[SourceRecord]:
        return self.store.catalog.sources()

    def stats(self) -> dict[str, Any]:
        counts = self.counts()
        spaces = {}
        for name, info in self.store.spaces().items():
            spaces[name] = {
                "embedder": info.embedder,
                "dim": info.dim,
                "vectors": info.count,
                "version": info.version,
                "backend": self.live.name_for(info.count),
                "hnsw_on_disk": self.store.files.path(name, info.version, "hnsw").is_file(),
            }
        by_modality: dict[str, int] = {}
        for (_, m), n in counts.items():
            by_modality[m] = by_modality.get(m, 0) + n
        return {
            "path": str(self.path),
            "items": sum(counts.values()),
            "sources": len(self.sources()),
            "by_modality": by_modality,
            "spaces": spaces,
            "disk_bytes": sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file()),
        }
