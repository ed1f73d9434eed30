"""PDFs through PyMuPDF: layout blocks, headings by font size, ruled tables, image references.

Headings: PDFs have no "heading" tag we can rely on, so a block is a heading when its text is
short and either its font is clearly larger than the body text (>= 1.15x the char-weighted
median size over the whole document: a page holding only a title must not redefine "body") or
it is entirely bold at body size and reads like a title (no final period). Heading levels rank
the distinct heading sizes, largest first.

Tables: ``page.find_tables(use_layout=False)``, i.e. the ruling-line detector. PyMuPDF 2.0's
default first runs its layout model on every page, ~0.3-0.5 s/page on CPU here, and it clipped
a plain ruled table to its text and split it into empty columns; the line detector took ~10 ms
and got the grid right. The line detector still costs ~90 ms on a page with no graphics at
all, and it can only build tables from vector lines and rectangles, so pages without both a
horizontal and a vertical edge among their graphics (``get_cdrawings()``, ~0.2 ms) skip it:
the same tables, and most pages of a paper for free. Text inside
a table's box becomes one "table" block (rows as ``a | b | c`` lines) instead of one per cell.
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pymupdf

from vega_lab.errors import DocumentError
from vega_lab.multimodal.document.structure import Block, Document, ImageRef, Page, Table

__all__ = ["TEXT_FLAGS", "extract_pdf_images", "open_pdf", "read_pdf"]

#: no image bytes in the dict (we list images separately), ligatures expanded, dehyphenated
TEXT_FLAGS = (
    pymupdf.TEXT_PRESERVE_WHITESPACE | pymupdf.TEXT_MEDIABOX_CLIP | pymupdf.TEXT_DEHYPHENATE
)
HEADING_RATIO = 1.15
#: what MuPDF raises on damaged content (FzErrorBase is not a RuntimeError)
MUPDF_ERRORS = (RuntimeError, ValueError, pymupdf.mupdf.FzErrorBase)
_BOLD = 16  # span flag bit
_HYPHEN_END = re.compile(r"(?<=[^\W\d_])-$")


def open_pdf(path: Path, password: str | None = None) -> Any:
    """A ``pymupdf.Document``, authenticated, or a ``DocumentError`` that says what to do."""
    try:
        doc = pymupdf.open(str(path), filetype="pdf")
    except MUPDF_ERRORS as exc:  # FileDataError, EmptyFileError, ...
        raise DocumentError(
            f"{path.name} is not a readable PDF ({exc})",
            "the file is corrupt or not a PDF: re-export or re-download it",
        ) from exc
    if doc.needs_pass:
        if password is None:
            doc.close()
            raise DocumentError(
                f"{path.name} is encrypted (password-protected)",
                "pass password='...' to read_document to open it",
            )
        if not doc.authenticate(password):
            doc.close()
            raise DocumentError(f"wrong password for {path.name}", "check the password")
    if doc.page_count == 0:
        doc.close()
        raise DocumentError(f"{path.name} has no pages", "the PDF is probably truncated")
    return doc


def _line_text(line: dict[str, Any]) -> str:
    return "".join(span["text"] for span in line["spans"]).strip()


def _join_lines(lines: list[str]) -> str:
    """Wrapped lines back into one paragraph, rejoining words hyphenated at a line end."""
    out = ""
    for line in lines:
        if not line:
            continue
        if out and _HYPHEN_END.search(out) and line[:1].islower():
            out = out[:-1] + line
        else:
            out = f"{out} {line}" if out else line
    return out


def _raw_blocks(page: Any) -> list[dict[str, Any]]:
    """Text blocks of one page with their dominant font size and boldness."""
    out = []
    for block in page.get_text("dict", flags=TEXT_FLAGS)["blocks"]:
        if block.get("type") != 0:
            continue
        text = _join_lines([_line_text(line) for line in block["lines"]])
        if not text:
            continue
        sizes: Counter[float] = Counter()
        bold = chars = 0
        for line in block["lines"]:
            for span in line["spans"]:
                n = len(span["text"].strip())
                sizes[round(span["size"], 1)] += n
                chars += n
                if span["flags"] & _BOLD or "bold" in span["font"].lower():
                    bold += n
        size = sizes.most_common(1)[0][0] if sizes else 0.0
        out.append(
            {
                "text": text,
                "bbox": tuple(block["bbox"]),
                "size": size,
                "bold": chars > 0 and bold >= 0.9 * chars,
                "chars": chars,
                "lines": len(block["lines"]),
            }
        )
    return out


def _body_size(pages: list[list[dict[str, Any]]]) -> float:
    weighted = Counter()
    for blocks in pages:
        for b in blocks:
            weighted[b["size"]] += b["chars"]
    if not weighted:
        return 0.0
    sizes = sorted(weighted)
    half, seen = sum(weighted.values()) / 2, 0
    for size in sizes:
        seen += weighted[size]
        if seen >= half:
            return size
    return sizes[-1]


def _heading_size(b: dict[str, Any], body: float) -> float | None:
    """The size that ranks this block as a heading, or None if it is body text."""
    text = b["text"]
    if len(text) > 200 or b["lines"] > 3 or not any(c.isalpha() for c in text):
        return None
    if body and b["size"] >= HEADING_RATIO * body:
        return b["size"]
    titleish = len(text) <= 120 and not text.endswith((".", ",", ";"))
    if b["bold"] and titleish and b["size"] >= 0.95 * body:
        return body  # bold at body size: the lowest heading level
    return None


def _in_box(bbox: tuple[float, ...], box: tuple[float, ...]) -> bool:
    cx, cy = (bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2
    return box[0] <= cx <= box[2] and box[1] <= cy <= box[3]


def _may_hold_table(paths: list[dict[str, Any]]) -> bool:
    """Whether the vector graphics hold both a horizontal and a vertical edge, as the line
    detector sees them (its rules: axis-parallel lines, rectangles that are thin lines or boxes,
    quads; curves ignored). Without both it cannot form one cell, and text documents are full of
    horizontal-only graphics: underscores, rules, underlines. Doubtful cases say yes."""
    horizontal = vertical = False
    for path in paths:
        for item in path.get("items", ()):
            if item[0] == "l":
                if path.get("closePath"):
                    return True  # the detector adds the closing segment: any direction
                (x0, y0), (x1, y1) = item[1][:2], item[2][:2]
                dx, dy = abs(x1 - x0), abs(y1 - y0)
                horizontal |= dy < 1 <= dx
                vertical |= dx < 1 <= dy
            elif item[0] == "re":
                x0, y0, x1, y1 = item[1][:4]
                w, h = abs(x1 - x0), abs(y1 - y0)
                if min(w, h) <= 3 and w != h:  # a rectangle drawn as a line
                    horizontal |= w > h
                    vertical |= h > w
                else:  # a box: edges both ways
                    return True
            elif item[0] == "qu":
                return True
            if horizontal and vertical:
                return True
    return False


def _tables(page: Any) -> list[Table]:
    if not _may_hold_table(page.get_cdrawings()):  # no ruling lines: nothing to find
        return []
    found = page.find_tables(use_layout=False)
    words = page.get_text("words")
    out = []
    for tab in found.tables:
        rows = [[_cell_text(words, cell) for cell in row.cells] for row in tab.rows]
        rows = [row for row in rows if any(row)]
        if rows:
            out.append(Table(rows=rows, bbox=tuple(tab.bbox)))
    return out


def _cell_text(words: list[Any], cell: Any) -> str:
    """The words whose centre lies in ``cell``, in reading order.

    Not ``Table.extract()``: PyMuPDF 2.0 assigns characters to text lines by their glyph
    boxes there, and a period (a short glyph) lands on a line of its own ("1.0" came back as
    "10\\n.").
    """
    if cell is None:
        return ""
    x0, y0, x1, y1 = cell
    inside = [w for w in words if x0 <= (w[0] + w[2]) / 2 <= x1 and y0 <= (w[1] + w[3]) / 2 <= y1]
    inside.sort(key=lambda w: (round(w[3]), w[0]))
    return " ".join(w[4] for w in inside).strip()


def _images(page: Any) -> list[ImageRef]:
    refs = []
    for item in page.get_images(full=True):
        xref, width, height = item[0], item[2], item[3]
        try:  # not get_image_rects: it decodes the image to hash it (~190 ms for a scan page)
            rect = page.get_image_bbox(item)
        except MUPDF_ERRORS:  # a damaged image still counts; only its position is unknown
            rect = None
        bbox = tuple(rect) if rect is not None and rect.is_valid and not rect.is_infinite else None
        refs.append(ImageRef(xref=xref, bbox=bbox, width=width, height=height))
    return refs


def _ocr_page(page: Any, path: Path) -> str:
    try:
        from vega_lab.multimodal.image.ocr import ocr_image
    except ImportError as exc:
        raise DocumentError(
            f"{path.name}: OCR was asked for but vega_lab.multimodal.image.ocr is unavailable",
            "read without ocr=True, or install the image extras",
        ) from exc
    from PIL import Image

    pix = page.get_pixmap(dpi=200, colorspace=pymupdf.csRGB, alpha=False)
    img = Image.frombytes("RGB", (pix.width, pix.height), pix.samples)
    result = ocr_image(img)
    return str(getattr(result, "text", result) or "").strip()


def _guarded(fn: Any, arg: Any, what: str, number: int, notes: list[str]) -> Any:
    """``fn(arg)``, or None with a note when MuPDF fails on damaged content (or arg is None)."""
    if arg is None:
        return None
    try:
        return fn(arg)
    except MUPDF_ERRORS as exc:
        notes.append(f"page {number}: {what} could not be read ({exc})")
        return None


def _page(
    number: int,
    raw: list[dict[str, Any]],
    body: float,
    levels: dict[float, int],
    tables: list[Table],
    images: list[ImageRef],
) -> Page:
    blocks: list[Block] = []
    placed = [False] * len(tables)
    for b in raw:
        owner = next((i for i, t in enumerate(tables) if t.bbox and _in_box(b["bbox"], t.bbox)), -1)
        if owner >= 0:  # a cell: the table stands in for it, once, where it starts
            if not placed[owner]:
                placed[owner] = True
                t = tables[owner]
                blocks.append(Block(t.as_text(), t.bbox, "table"))
            continue
        size = _heading_size(b, body)
        kind = "heading" if size is not None else "text"
        level = levels.get(size) if size is not None else None
        blocks.append(Block(b["text"], b["bbox"], kind, b["size"], level))
    for t, done in zip(tables, placed, strict=True):
        if not done:  # a table whose cells held no text block of their own
            blocks.append(Block(t.as_text(), t.bbox, "table"))
    text = "\n\n".join(b.text for b in blocks)
    return Page(number, text, blocks, tables, images)


def read_pdf(
    path: Path, *, password: str | None = None, tables: bool = True, ocr: bool = False
) -> Document:
    doc = open_pdf(path, password)
    notes: list[str] = []
    try:
        if doc.is_repaired:
            notes.append(f"{path.name} is damaged and was repaired: text may be incomplete")
        raw_pages: list[list[dict[str, Any]]] = []
        page_tables: list[list[Table]] = []
        page_images: list[list[ImageRef]] = []
        for i in range(doc.page_count):
            page = _guarded(doc.load_page, i, "page", i + 1, notes)
            # each part on its own: a damaged table or image must not lose the page's text
            raw_pages.append(_guarded(_raw_blocks, page, "text", i + 1, notes) or [])
            page_tables.append(_guarded(_tables, page, "tables", i + 1, notes) if tables else [])
            page_images.append(_guarded(_images, page, "images", i + 1, notes) or [])
        body = _body_size(raw_pages)
        heading_sizes = {s for blocks in raw_pages for b in blocks if (s := _heading_size(b, body))}
        levels = {s: n for n, s in enumerate(sorted(heading_sizes, reverse=True), start=1)}
        pages = [
            _page(i + 1, raw, body, levels, page_tables[i] or [], page_images[i])
            for i, raw in enumerate(raw_pages)
        ]
        empty = [p.number for p in pages if not p.has_text]
        if empty and ocr:
            for p in pages:
                if not p.has_text:
                    page = _guarded(doc.load_page, p.number - 1, "page", p.number, notes)
                    p.text = _ocr_page(page, path) if page is not None else ""
                    p.blocks = [Block(par) for par in re.split(r"\n\s*\n", p.text) if par.strip()]
                    p.ocr = True
            empty = [p.number for p in pages if not p.has_text]
        if empty:
            which = "any page" if len(empty) == len(pages) else f"page(s) {_ranges(empty)}"
            note = (
                f"{path.name}: no text recovered from {which} (damaged)"
                if doc.is_repaired
                else f"{path.name}: no text layer on {which} (scanned?); "
                "read_document(..., ocr=True) reads them with OCR"
            )
            notes.append(note)
            warnings.warn(note, stacklevel=3)
        meta = {k: v for k, v in (doc.metadata or {}).items() if v}
        meta.update(
            page_count=doc.page_count,
            encrypted=bool(meta.get("encryption")),
            pages_without_text=empty,
            body_font_size=body,
        )
        first_heading = next((b.text for p in pages for b in p.blocks if b.kind == "heading"), None)
        title = meta.get("title") or first_heading or path.stem
        return Document(path, "pdf", title, pages, meta, notes)
    finally:
        doc.close()


def _ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 7] -> "1-3, 7" so a 500-page scan does not print 500 numbers."""
    runs: list[list[int]] = []
    for n in numbers:
        if runs and n == runs[-1][-1] + 1:
            runs[-1].append(n)
        else:
            runs.append([n])
    return ", ".join(str(r[0]) if len(r) == 1 else f"{r[0]}-{r[-1]}" for r in runs)


def extract_pdf_images(path: Path, out: Path, password: str | None = None) -> list[Path]:
    doc = open_pdf(path, password)
    written: list[Path] = []
    seen: set[int] = set()
    try:
        for page in doc:
            for n, item in enumerate(page.get_images(full=True), start=1):
                xref = item[0]
                if xref in seen:
                    continue
                seen.add(xref)
                try:
                    info = doc.extract_image(xref)
                except MUPDF_ERRORS:
                    info = None
                if not info or not info.get("image"):
                    continue  # an image MuPDF cannot decode: skip it, keep the others
                target = out / f"{path.stem}-p{page.number + 1}-{n}.{info['ext']}"
                target.write_bytes(info["image"])
                written.append(target)
    finally:
        doc.close()
    return written
