"""Semantic search over document chunks: MiniLM vectors and exact cosine similarity in numpy.

Why exact: a researcher's document set is thousands of chunks, where one matrix-vector product
(e.g. 50,000 x 384 floats, a few ms) is fast enough and never misses a hit; approximate
indexes, persistence and cross-modal queries live in ``vega_lab.multimodal.index``. A chunk is
embedded with its heading in front, so a paragraph under "Pricing" is found by a question about
prices even when the paragraph itself never says the word.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vega_lab.errors import DocumentError
from vega_lab.multimodal.batch import BatchResult, iter_files, process_files
from vega_lab.multimodal.document.chunking import Chunk, chunk_document
from vega_lab.multimodal.document.embed import TextEmbedder, load_text_embedder
from vega_lab.multimodal.document.readers import DOCUMENT_SUFFIXES, Document, read_document

__all__ = ["DocumentSearch", "Hit"]


@dataclass(frozen=True)
class Hit:
    chunk: Chunk
    score: float  # cosine similarity in [-1, 1]


def embedding_text(chunk: Chunk) -> str:
    return f"{chunk.heading}\n{chunk.text}" if chunk.heading else chunk.text


class DocumentSearch:
    """Chunks of any number of documents, searchable by meaning.

    ``add`` a document (or a path) and ``search("a question")``; adding a source again replaces
    its chunks, so re-indexing an edited file does not leave stale duplicates."""

    def __init__(
        self, embedder: TextEmbedder | None = None, *, max_chars: int = 800, overlap: int = 100
    ) -> None:
        self._embedder = embedder
        self.max_chars = max_chars
        self.overlap = overlap
        self.chunks: list[Chunk] = []
        self._vectors = np.zeros((0, 0), dtype=np.float32)
        self.titles: dict[Path, str] = {}

    @property
    def embedder(self) -> TextEmbedder:
        if self._embedder is None:
            self._embedder = load_text_embedder()
        return self._embedder

    def __len__(self) -> int:
        return len(self.chunks)

    @property
    def sources(self) -> list[Path]:
        return list(self.titles)

    def add(self, doc_or_path: Document | str | Path, *, password: str | None = None) -> int:
        """Index a document; the number of chunks it gave. A document without any text (a scan
        not read with OCR) raises ``DocumentError``: nothing in it could ever be found."""
        doc = (
            doc_or_path
            if isinstance(doc_or_path, Document)
            else read_document(doc_or_path, password=password)
        )
        chunks = chunk_document(doc, self.max_chars, self.overlap)
        if not chunks:
            raise DocumentError(
                f"{doc.path.name} has no text to index",
                "if it is a scan, read it with read_document(path, ocr=True) and add that",
            )
        vectors = self.embedder.encode([embedding_text(c) for c in chunks])
        self.remove(doc.path)
        self.chunks += chunks
        base = self._vectors if len(self._vectors) else np.zeros((0, vectors.shape[1]), np.float32)
        self._vectors = np.vstack([base, vectors])
        self.titles[doc.path] = doc.title
        return len(chunks)

    def add_many(self, paths: Iterable[str | Path]) -> BatchResult[int]:
        """Index several files; one that cannot be read is skipped with its reason."""
        return process_files(paths, self.add)

    def add_folder(self, folder: str | Path) -> BatchResult[int]:
        return process_files(iter_files(folder, DOCUMENT_SUFFIXES), self.add)

    def remove(self, source: str | Path) -> int:
        """Drop a source's chunks; how many were dropped."""
        source = Path(source)
        keep = [i for i, c in enumerate(self.chunks) if c.source != source]
        dropped = len(self.chunks) - len(keep)
        if dropped:
            self.chunks = [self.chunks[i] for i in keep]
            self._vectors = self._vectors[keep]
        self.titles.pop(source, None)
        return dropped

    def search(self, query: str, k: int = 5, *, min_score: float | None = None) -> list[Hit]:
        """The ``k`` chunks most similar to ``query``, best first (ties in reading order)."""
        if not isinstance(query, str) or not query.strip():
            raise DocumentError("the search query is empty", "type what you are looking for")
        if not self.chunks:
            raise DocumentError("the search index is empty", "add documents before searching")
        if k < 1:
            raise DocumentError(f"k={k} must be at least 1", "ask for one or more hits")
        q = self.embedder.encode([query])[0]
        scores = self._vectors @ q
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = sorted(top, key=lambda i: (-float(scores[i]), int(i)))
        hits = [Hit(self.chunks[i], float(scores[i])) for i in top]
        return [h for h in hits if min_score is None or h.score >= min_score]
