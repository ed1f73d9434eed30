"""Summaries by name: "extractive" (TextRank over MiniLM sentence vectors, offline, the default)
and "llm" (the local chat model).

Why extractive by default: it needs no chat server, is deterministic, and can only say what
the document says (every sentence is the author's, in the author's order). TextRank ranks a
sentence by how similar it is to other central sentences (PageRank on the cosine-similarity
graph), so sentences on the document's main topic win and an off-topic aside loses. Over 2,000
sentences the n x n graph gets costly, so centrality falls back to similarity to the mean
vector (the first step of the same idea). The "llm" method rewrites: with a small context
window it is fed the extractive pick when the document is too long (extract, then abstract).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vega_lab.errors import DocumentError
from vega_lab.multimodal.document.chunking import split_sentences
from vega_lab.multimodal.document.embed import TextEmbedder, load_text_embedder
from vega_lab.multimodal.document.readers import DOCUMENT_SUFFIXES, Document, read_document
from vega_lab.registry import lookup

__all__ = ["SUMMARIZERS", "Summary", "extractive_summary", "llm_summary", "summarize", "textrank"]

GRAPH_LIMIT = 2000
SUMMARY_SYSTEM = "You write faithful, concise summaries. Say only what the text says."


@dataclass
class Summary:
    text: str
    method: str
    sentences: list[str] = field(default_factory=list)
    positions: list[int] = field(default_factory=list)  # extractive: indices in the document


def _names_a_file(text: str) -> bool:
    path = Path(text) if len(text) < 1024 and "\n" not in text else None
    return path is not None and path.suffix.lower() in DOCUMENT_SUFFIXES and path.is_file()


def document_sentences(source: Document | str | Path) -> list[str]:
    """Sentences of body text (headings, tables and code left out), in reading order. A ``str``
    is text unless it is the path of an existing document file."""
    if isinstance(source, Path) or (isinstance(source, str) and _names_a_file(source)):
        source = read_document(source)
    if isinstance(source, Document):
        paragraphs = [
            b.text for p in source.pages for b in p.blocks if b.kind in ("text", "list")
        ] or [p.text for p in source.pages]
    else:
        paragraphs = str(source).split("\n\n")
    return [s for par in paragraphs for s in split_sentences(" ".join(par.split()))]


def textrank(vectors: np.ndarray, damping: float = 0.85, iters: int = 100) -> np.ndarray:
    """Centrality of each row of L2-normalized ``vectors`` (PageRank on positive cosines)."""
    n = len(vectors)
    if n <= 2:
        return np.ones(n) / max(n, 1)
    if n > GRAPH_LIMIT:
        centroid = vectors.mean(axis=0)
        return vectors @ (centroid / (np.linalg.norm(centroid) or 1.0))
    sim = np.clip(vectors @ vectors.T, 0.0, None).astype(np.float64)
    np.fill_diagonal(sim, 0.0)
    rows = sim.sum(axis=1, keepdims=True)
    trans = np.where(rows > 0, sim / np.where(rows > 0, rows, 1.0), 1.0 / n)
    rank = np.full(n, 1.0 / n)
    for _ in range(iters):
        new = (1 - damping) / n + damping * trans.T @ rank
        if np.abs(new - rank).sum() < 1e-9:
            return new
        rank = new
    return rank


def _count(total: int, sentences: int | None, ratio: float | None) -> int:
    if sentences is not None and ratio is not None:
        raise DocumentError("give sentences or ratio, not both", "e.g. sentences=3 or ratio=0.2")
    if ratio is not None:
        if not 0 < ratio <= 1:
            raise DocumentError(f"ratio={ratio} is out of range", "use a ratio in (0, 1]")
        return max(1, round(total * ratio))
    n = 3 if sentences is None else sentences
    if n < 1:
        raise DocumentError(f"sentences={n} must be at least 1", "ask for one or more sentences")
    return n


def extractive_summary(
    source: Document | str | Path,
    *,
    sentences: int | None = None,
    ratio: float | None = None,
    embedder: TextEmbedder | None = None,
) -> Summary:
    """The most central sentences (``sentences``, default 3, or ``ratio`` of them), in order."""
    return _central(document_sentences(source), sentences, ratio, embedder)


def _central(
    all_sentences: list[str],
    sentences: int | None,
    ratio: float | None,
    embedder: TextEmbedder | None,
) -> Summary:
    candidates = [i for i, s in enumerate(all_sentences) if len(s.split()) >= 3]
    if not candidates:
        raise DocumentError("there is no text to summarize", "check the document has text")
    n = min(_count(len(candidates), sentences, ratio), len(candidates))
    vectors = (embedder or load_text_embedder()).encode([all_sentences[i] for i in candidates])
    scores = textrank(vectors)
    best = sorted(range(len(candidates)), key=lambda j: (-scores[j], j))[:n]
    positions = sorted(candidates[j] for j in best)
    picked = [all_sentences[i] for i in positions]
    return Summary(" ".join(picked), "extractive", picked, positions)


def llm_summary(
    source: Document | str | Path,
    *,
    sentences: int | None = None,
    ratio: float | None = None,
    conversation: Any = None,
    max_tokens: int = 200,
    max_input_chars: int = 6000,
    embedder: TextEmbedder | None = None,
) -> Summary:
    """A summary written by the chat model (``conversation``, default a new one)."""
    all_sentences = document_sentences(source)
    if not all_sentences:
        raise DocumentError("there is no text to summarize", "check the document has text")
    n = _count(len(all_sentences), sentences, ratio)
    text = " ".join(all_sentences)
    if len(text) > max_input_chars:  # too long for a small context: extract first
        budget = max(1, max_input_chars // max(1, len(text) // len(all_sentences)))
        text = _central(all_sentences, budget, None, embedder).text  # not read twice
        text = text[:max_input_chars]
    prompt = f"Summarize the following text in at most {n} sentences.\n\nText:\n{text}\n\nSummary:"
    if conversation is None:
        from vega_lab.chat.session import Conversation

        conversation = Conversation(system_prompt=SUMMARY_SYSTEM)
    reply = conversation.ask(prompt, max_tokens=max_tokens, temperature=0.0)
    out = reply.response.strip()
    return Summary(out, "llm", split_sentences(out))


SUMMARIZERS: dict[str, Callable[..., Summary]] = {
    "extractive": extractive_summary,
    "llm": llm_summary,
}


def summarize(
    source: Document | str | Path, *, method: str = "extractive", **options: Any
) -> Summary:
    """Summarize a document, a path or a text with a method from ``SUMMARIZERS``."""
    return lookup(SUMMARIZERS, method, "summary method")(source, **options)
