"""The one document shape every reader fills: ``Document -> Page -> Block/Table/ImageRef``.

Its own module because the dispatching reader (``readers``) and the format readers
(``readers_pdf``, ``readers_text``, ``rtf``) all build it: ``readers`` -> format readers ->
this module. Page numbers are the ones a person sees (1-based): they end up in citations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["BBox", "Block", "Document", "ImageRef", "Page", "Table"]

BBox = tuple[float, float, float, float]


@dataclass
class Block:
    """A run of text with one role: ``kind`` is "heading", "text", "list", "code" or "table".

    ``bbox`` (PDF points) and ``font_size`` exist only for PDFs; ``level`` only for headings
    (1 = top level)."""

    text: str
    bbox: BBox | None = None
    kind: str = "text"
    font_size: float | None = None
    level: int | None = None


@dataclass
class Table:
    """Cell texts row by row (merged cells repeat or are empty, as the source has them)."""

    rows: list[list[str]]
    bbox: BBox | None = None

    def as_text(self) -> str:
        return "\n".join(" | ".join(cell.strip() for cell in row) for row in self.rows)


@dataclass
class ImageRef:
    """An embedded image; its bytes stay in the file until ``extract_images`` asks for them."""

    xref: int
    bbox: BBox | None
    width: int
    height: int


@dataclass
class Page:
    number: int  # 1-based, as a viewer shows it
    text: str
    blocks: list[Block] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    images: list[ImageRef] = field(default_factory=list)
    ocr: bool = False  # the text came from OCR of the rendered page

    @property
    def has_text(self) -> bool:
        return bool(self.text.strip())


@dataclass
class Document:
    path: Path
    kind: str  # "pdf", "docx", "txt", "md" or "rtf"
    title: str
    pages: list[Page]
    metadata: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n\n".join(p.text for p in self.pages if p.text)

    @property
    def headings(self) -> list[Block]:
        return [b for p in self.pages for b in p.blocks if b.kind == "heading"]

    @property
    def name(self) -> str:
        return self.path.name
