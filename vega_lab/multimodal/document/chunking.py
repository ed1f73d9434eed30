"""Chunks for retrieval: paragraph and sentence boundaries, never across pages, with headings.

Why these rules: a chunk is what an embedding sees and what a citation points at. Crossing a
page would make "p. N" wrong for half the chunk; cutting mid-sentence gives the embedder
fragments. So a page's blocks are packed greedily up to ``max_chars``; a block that is too long
is split at line breaks, then sentences, then (a single enormous "sentence", e.g. a table row
dump) at word boundaries. Each chunk carries the nearest heading above it (from an earlier page
too), and a heading starts a new chunk so one chunk never straddles two sections. ``overlap``
repeats the previous chunk's last whole sentences (up to that many characters) at the start of
the next chunk of the same section, so a fact split across the boundary is still found whole.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from vega_lab.errors import DocumentError
from vega_lab.multimodal.document.readers import Block, Document

__all__ = ["Chunk", "chunk_document", "split_sentences"]

_BOUNDARY = re.compile(
    r"[.!?\u2026][\"'\u201d\u2019)\]]*(\s+)(?=[\"'\u201c\u2018(\[]?[A-Z0-9\u00c0-\u024f])"
)
_ABBREV = {
    "e.g", "i.e", "etc", "vs", "cf", "al", "fig", "figs", "eq", "no", "vol", "pp", "p", "dr",
    "mr", "mrs", "ms", "prof", "st", "jr", "sr", "inc", "ltd", "co", "approx", "dept", "ch",
}  # fmt: skip


@dataclass(frozen=True)
class Chunk:
    text: str
    page: int  # 1-based page the whole chunk is on
    index: int  # 0-based position among the document's chunks
    source: Path
    heading: str | None = None

    @property
    def tag(self) -> str:
        """How a prompt or a report cites it: ``[report.pdf p.3]``."""
        return f"[{self.source.name} p.{self.page}]"


def split_sentences(text: str) -> list[str]:
    """Sentences of ``text``: a split after . ! ? before a capital or digit, except after common
    abbreviations, dotted acronyms and single initials ("e.g. The", "U.S. Army", "J. Smith")."""
    out: list[str] = []
    start = 0
    for m in _BOUNDARY.finditer(text):
        piece = text[start : m.start(1)].strip()
        words = piece.rstrip(".!?\u2026\"')]\u201d\u2019").split()
        last = words[-1].lower() if words else ""
        if last in _ABBREV or "." in last or (len(last) == 1 and last.isalpha()):
            continue
        if piece:
            out.append(piece)
        start = m.end()
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


def _wrap(text: str, width: int) -> list[str]:
    """Cut at word boundaries into pieces of at most ``width`` (a word longer than that is cut)."""
    pieces, line = [], ""
    for word in text.split():
        while len(word) > width:
            if line:
                pieces.append(line)
                line = ""
            pieces.append(word[:width])
            word = word[width:]
        if line and len(line) + 1 + len(word) > width:
            pieces.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        pieces.append(line)
    return pieces


def _pieces(text: str, limit: int) -> list[tuple[str, str]]:
    """(piece, separator before it) for one block, each piece at most ``limit`` long."""
    if len(text) <= limit:
        return [(text, "\n\n")]
    out: list[tuple[str, str]] = []
    lines = [ln for ln in text.split("\n") if ln.strip()]
    if len(lines) > 1:
        for n, line in enumerate(lines):
            for k, (piece, _) in enumerate(_pieces(line, limit)):
                out.append((piece, "\n\n" if n == 0 and k == 0 else "\n" if k == 0 else " "))
        return out
    for n, sentence in enumerate(split_sentences(text)):
        parts = [sentence] if len(sentence) <= limit else _wrap(sentence, limit)
        out += [(p, "\n\n" if n == 0 and k == 0 else " ") for k, p in enumerate(parts)]
    return out


def _tail(text: str, overlap: int) -> str:
    """The last whole sentences of ``text`` within ``overlap`` chars (else its last words)."""
    if overlap <= 0:
        return ""
    kept: list[str] = []
    for sentence in reversed(split_sentences(text)):
        if sum(len(s) + 1 for s in kept) + len(sentence) > overlap:
            break
        kept.insert(0, sentence)
    if kept:
        return " ".join(kept)
    cut = text[-overlap:]
    if len(text) > overlap and text[-overlap - 1] != " " and " " in cut:
        cut = cut.split(" ", 1)[1]  # drop the partial first word
    return cut.strip()


def _page_blocks(blocks: list[Block], text: str) -> list[Block]:
    if blocks:
        return blocks
    return [Block(par.strip()) for par in re.split(r"\n\s*\n", text) if par.strip()]


def chunk_document(doc: Document, max_chars: int = 800, overlap: int = 100) -> list[Chunk]:
    """The document's chunks in reading order (see the module docstring for the rules)."""
    if max_chars < 50:
        raise DocumentError(f"max_chars={max_chars} is too small", "use at least 50 characters")
    if not 0 <= overlap <= max_chars // 2:
        raise DocumentError(
            f"overlap={overlap} is out of range", f"use 0 to {max_chars // 2} (half of max_chars)"
        )
    chunks: list[Chunk] = []
    heading: str | None = None
    heading_page = 0
    has_body = True  # whether the current section has produced a chunk yet

    def emit(text: str, page: int) -> None:
        nonlocal has_body
        if text.strip():
            chunks.append(Chunk(text.strip(), page, len(chunks), doc.path, heading))
            has_body = True

    def bare_heading() -> None:
        """A heading with no text under it (a slide title, an outline) is still findable."""
        if heading and not has_body:
            emit(heading, heading_page)

    for page in doc.pages:
        current = ""
        for block in _page_blocks(page.blocks, page.text):
            if block.kind == "heading":
                emit(current, page.number)
                bare_heading()
                current, heading = "", block.text.strip()
                heading_page, has_body = page.number, False
                continue
            for piece, sep in _pieces(block.text.strip(), max_chars):
                if not current:
                    current = piece
                elif len(current) + len(sep) + len(piece) <= max_chars:
                    current = f"{current}{sep}{piece}"
                else:
                    emit(current, page.number)
                    tail = _tail(current, overlap)
                    fits = tail and len(tail) + 1 + len(piece) <= max_chars
                    current = f"{tail} {piece}" if fits else piece
        emit(current, page.number)
    bare_heading()
    return chunks
