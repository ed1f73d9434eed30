"""Questions answered from documents: retrieve chunks, quote them with tags, ask the chat model.

Why retrieval first: the local chat model (SmolLM2-135M by default) knows nothing about the
user's files and has a small context window, so the prompt carries only the ``k`` most similar
chunks, each tagged ``[file p.N]``, with an instruction to answer from them and cite the tags.
The citations returned are those retrieved chunks (what the answer could rest on), whatever
the model writes: a 135M model's answer is weak, its evidence need not be. The exchange goes
through ``vega_lab.chat`` so it is logged like every other conversation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vega_lab.errors import ChatError
from vega_lab.multimodal.document.embed import TextEmbedder
from vega_lab.multimodal.document.readers import Document
from vega_lab.multimodal.document.search import DocumentSearch, Hit

__all__ = ["QA_SYSTEM", "Answer", "Citation", "answer", "build_prompt"]

QA_SYSTEM = (
    "You answer questions about the user's documents using only the excerpts given. "
    "Cite the excerpts you use by their tags, like [report.pdf p.2]. "
    "If the excerpts do not contain the answer, say so."
)


@dataclass(frozen=True)
class Citation:
    source: Path
    page: int
    chunk_index: int
    score: float

    @property
    def tag(self) -> str:
        return f"[{self.source.name} p.{self.page}]"


@dataclass
class Answer:
    text: str
    citations: list[Citation]
    prompt: str
    session: str | None = None  # the chat session the exchange is logged in
    hits: list[Hit] = field(default_factory=list, repr=False)

    @property
    def cited(self) -> list[Citation]:
        """The citations whose tag (or ``p.N`` of a single source) the answer text mentions."""
        pages = set(re.findall(r"p\.\s*(\d+)", self.text))
        return [c for c in self.citations if c.tag in self.text or str(c.page) in pages]


def build_prompt(
    question: str, hits: Sequence[Hit], max_context_chars: int = 6000
) -> tuple[str, list[Hit]]:
    """The user message (tagged excerpts, best first, as many as fit, then the question) and
    the hits it quotes."""
    parts: list[str] = []
    used: list[Hit] = []
    size = 0
    for hit in hits:
        excerpt = f"{hit.chunk.tag} {hit.chunk.text}"
        if used and size + len(excerpt) > max_context_chars:
            break
        parts.append(excerpt[:max_context_chars])
        used.append(hit)
        size += len(excerpt)
    excerpts = "\n\n".join(parts)
    prompt = (  # the instruction is repeated here for a conversation with its own system prompt
        f"Answer from these excerpts only, citing their tags.\n\n{excerpts}\n\n"
        f"Question: {question.strip()}\nAnswer, citing the tags:"
    )
    return prompt, used


def _as_search(source: Any, embedder: TextEmbedder | None) -> DocumentSearch:
    if isinstance(source, DocumentSearch):
        return source
    items = [source] if isinstance(source, (Document, str, Path)) else list(source)
    search = DocumentSearch(embedder)
    for item in items:
        search.add(item)
    return search


def answer(
    question: str,
    search_or_docs: DocumentSearch | Document | str | Path | Sequence[Document | str | Path],
    *,
    k: int = 4,
    conversation: Any = None,
    max_tokens: int = 256,
    temperature: float = 0.0,
    max_context_chars: int = 6000,
    embedder: TextEmbedder | None = None,
) -> Answer:
    """Answer ``question`` from an index or from documents (indexed on the fly).

    ``conversation``: a ``vega_lab.chat.Conversation`` (its backend, store and session); by
    default a new one on the configured backend with a system prompt for cited answers. A chat
    backend that is down raises its ``BackendUnavailableError``/``ChatError`` unchanged."""
    if not isinstance(question, str) or not question.strip():
        raise ChatError("the question is empty", "ask something about the documents")
    search = _as_search(search_or_docs, embedder)
    hits = search.search(question, k=k)
    prompt, used = build_prompt(question, hits, max_context_chars)
    if conversation is None:
        from vega_lab.chat.session import Conversation

        conversation = Conversation(system_prompt=QA_SYSTEM)
    reply = conversation.ask(prompt, max_tokens=max_tokens, temperature=temperature)
    citations = [
        Citation(h.chunk.source, h.chunk.page, h.chunk.index, round(h.score, 6)) for h in used
    ]
    return Answer(reply.response.strip(), citations, prompt, reply.session, used)
