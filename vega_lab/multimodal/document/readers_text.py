"""DOCX (python-docx), plain text, Markdown and RTF into the shared ``Document`` model.

Pages: these formats have no fixed pages, so each document is one page unless it carries hard
page breaks: DOCX ``<w:br w:type="page"/>`` and "page break before" paragraphs, RTF ``\\page``,
form feeds (``\\f``) in plain text (what ``pdftotext`` and line printers use). Word's
``lastRenderedPageBreak`` marks are ignored: they describe a layout from the last time Word
saved the file, which other editors never update.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path
from typing import Any

from vega_lab.errors import DocumentError
from vega_lab.multimodal.document.structure import Block, Document, Page, Table

__all__ = [
    "decode_text",
    "extract_docx_images",
    "read_docx",
    "read_markdown",
    "read_rtf",
    "read_txt",
]

_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # encrypted Office files and legacy .doc
_HEADING_STYLE = re.compile(r"^heading\s*(\d)$", re.I)


def _finish(
    path: Path,
    kind: str,
    title: str | None,
    pages: list[Page],
    meta: dict[str, Any],
    notes: list[str],
) -> Document:
    if not any(p.has_text for p in pages):
        notes.append(f"{path.name} contains no text")
    first = next((b.text for p in pages for b in p.blocks if b.kind == "heading"), None)
    meta.setdefault("page_count", len(pages))
    return Document(path, kind, title or first or path.stem, pages, meta, notes)


def decode_text(data: bytes, path: Path, notes: list[str]) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with a BOM; else Windows-1252, with a warning."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16", errors="replace")
    if b"\x00" in data[:8192]:
        raise DocumentError(
            f"{path.name} looks like a binary file, not text",
            "check the suffix matches the content",
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        notes.append(f"{path.name} is not UTF-8; decoded as Windows-1252")
        return data.decode("cp1252", errors="replace")


# -- plain text -------------------------------------------------------------------------------
def _paragraph_blocks(text: str) -> list[Block]:
    return [Block(par.strip()) for par in re.split(r"\n[ \t]*\n", text) if par.strip()]


def read_txt(path: Path) -> Document:
    notes: list[str] = []
    text = decode_text(path.read_bytes(), path, notes).replace("\r\n", "\n").replace("\r", "\n")
    pages = [
        Page(n, part.strip("\n").rstrip(), _paragraph_blocks(part))
        for n, part in enumerate(text.split("\f"), start=1)
    ]
    if len(pages) > 1 and not pages[-1].has_text:
        pages.pop()  # a trailing form feed does not start a real page
    return _finish(path, "txt", None, pages, {}, notes)


# -- Markdown ---------------------------------------------------------------------------------
_ATX = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_FENCE = re.compile(r"^ {0,3}(```|~~~)")
_LIST = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])\s+")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-{3,}:?\s*(?:\|\s*:?-{3,}:?\s*)*\|?\s*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)\s*$")
_RULE = re.compile(r"^ {0,3}([-*_])(?:\s*\1){2,}\s*$")  # a thematic break: ---, ***, ___
_INLINE = [
    (re.compile(r"!\[([^\]]*)\]\([^)]*\)"), r"\1"),  # image -> alt text
    (re.compile(r"\[([^\]]+)\]\([^)]*\)"), r"\1"),  # link -> its text
    (re.compile(r"(\*\*|__)(.+?)\1"), r"\2"),
    (re.compile(r"(?<![\w*])[*_](?!\s)(.+?)(?<!\s)[*_](?![\w*])"), r"\1"),
    (re.compile(r"`([^`]+)`"), r"\1"),
    (re.compile(r"<!--.*?-->", re.S), ""),
]


def _inline(text: str) -> str:
    for pattern, repl in _INLINE:
        text = pattern.sub(repl, text)
    return text.strip()


def _cells(line: str) -> list[str]:
    return [_inline(c) for c in line.strip().strip("|").split("|")]


def _front_matter(lines: list[str], meta: dict[str, Any]) -> list[str]:
    if len(lines) > 2 and lines[0].strip() == "---":
        for end in range(1, len(lines)):
            if lines[end].strip() in ("---", "..."):
                for line in lines[1:end]:
                    key, sep, value = line.partition(":")
                    if sep and key.strip():
                        meta[key.strip()] = value.strip().strip("'\"")
                return lines[end + 1 :]
    return lines


def markdown_blocks(text: str, meta: dict[str, Any]) -> tuple[list[Block], list[Table]]:
    """Headings (ATX and setext), paragraphs, lists, fenced code and pipe tables, in order."""
    lines = _front_matter(text.split("\n"), meta)
    blocks: list[Block] = []
    tables: list[Table] = []
    para: list[str] = []
    kind = "text"

    def flush() -> None:
        nonlocal para, kind
        if para:
            body = "\n".join(para) if kind in ("list", "code") else " ".join(para)
            body = body if kind == "code" else _inline(body)
            if body.strip():
                blocks.append(Block(body.strip("\n"), kind=kind))
        para, kind = [], "text"

    i = 0
    while i < len(lines):
        line = lines[i]
        if _FENCE.match(line):
            flush()
            fence, i = _FENCE.match(line).group(1), i + 1
            while i < len(lines) and not lines[i].lstrip().startswith(fence):
                para.append(lines[i])
                i += 1
            kind = "code"
            flush()
        elif m := _ATX.match(line):
            flush()
            blocks.append(Block(_inline(m.group(2)), kind="heading", level=len(m.group(1))))
        elif para and kind == "text" and len(para) == 1 and (m := _SETEXT.match(line)):
            level = 1 if m.group(1).startswith("=") else 2
            blocks.append(Block(_inline(para[0]), kind="heading", level=level))
            para = []
        elif _RULE.match(line):
            flush()
        elif "|" in line and i + 1 < len(lines) and _TABLE_SEP.match(lines[i + 1]):
            flush()
            rows = [_cells(line)]
            i += 2
            while i < len(lines) and "|" in lines[i] and lines[i].strip():
                rows.append(_cells(lines[i]))
                i += 1
            table = Table(rows=rows)
            tables.append(table)
            blocks.append(Block(table.as_text(), kind="table"))
            continue
        elif not line.strip():
            flush()
        elif _LIST.match(line) or (kind == "list" and line.startswith((" ", "\t"))):
            if kind != "list":
                flush()
                kind = "list"
            para.append(_LIST.sub("- ", line, count=1).strip() if _LIST.match(line) else line)
        else:
            if kind == "list":
                flush()
            para.append(line.strip())
        i += 1
    flush()
    return blocks, tables


def read_markdown(path: Path) -> Document:
    notes: list[str] = []
    text = decode_text(path.read_bytes(), path, notes).replace("\r\n", "\n").replace("\r", "\n")
    meta: dict[str, Any] = {}
    blocks, tables = markdown_blocks(text, meta)
    h1 = next((b.text for b in blocks if b.kind == "heading" and b.level == 1), None)
    page = Page(1, "\n\n".join(b.text for b in blocks), blocks, tables)
    return _finish(path, "md", meta.get("title") or h1, [page], meta, notes)


# -- DOCX -------------------------------------------------------------------------------------
def _open_docx(path: Path) -> Any:
    import docx
    from docx.opc.exceptions import PackageNotFoundError

    with path.open("rb") as fh:  # the magic only: a DOCX with images can be large
        encrypted = fh.read(len(_OLE_MAGIC)) == _OLE_MAGIC
    if encrypted:
        raise DocumentError(
            f"{path.name} is encrypted (password-protected) or a legacy .doc renamed to .docx",
            "open it in Word and save it as .docx without a password",
        )
    try:
        return docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise DocumentError(
            f"{path.name} is not a readable DOCX ({type(exc).__name__}: {exc})",
            "the file is corrupt or not a Word document: re-save or re-download it",
        ) from exc
    except Exception as exc:  # lxml syntax errors and the like from a damaged package
        raise DocumentError(
            f"{path.name} is not a readable DOCX ({type(exc).__name__}: {exc})",
            "the file is corrupt: re-save it from Word",
        ) from exc


def _paragraph_block(par: Any) -> Block | None:
    text = par.text.strip()
    if not text:
        return None
    style = (par.style.name if par.style is not None else "") or ""
    if m := _HEADING_STYLE.match(style):
        return Block(text, kind="heading", level=int(m.group(1)))
    if style.lower() == "title":
        return Block(text, kind="heading", level=1)
    return Block(text, kind="list" if "list" in style.lower() else "text")


def read_docx(path: Path) -> Document:
    from docx.table import Table as DocxTable

    d = _open_docx(path)
    pages = [Page(1, "")]
    for item in d.iter_inner_content():
        if isinstance(item, DocxTable):
            rows = [[cell.text.strip() for cell in row.cells] for row in item.rows]
            if any(any(r) for r in rows):
                table = Table(rows=rows)
                pages[-1].tables.append(table)
                pages[-1].blocks.append(Block(table.as_text(), kind="table"))
            continue
        xml = item._p
        if xml.xpath("./w:pPr/w:pageBreakBefore") and pages[-1].blocks:
            pages.append(Page(len(pages) + 1, ""))
        if (block := _paragraph_block(item)) is not None:
            pages[-1].blocks.append(block)
        if xml.xpath(".//w:br[@w:type='page']"):
            pages.append(Page(len(pages) + 1, ""))
    if len(pages) > 1 and not pages[-1].blocks:
        pages.pop()  # a break at the very end does not make a page
    for page in pages:
        page.text = "\n\n".join(b.text for b in page.blocks)
    props = d.core_properties
    meta = {
        k: v
        for k, v in {
            "author": props.author,
            "created": props.created.isoformat() if props.created else None,
            "modified": props.modified.isoformat() if props.modified else None,
            "last_modified_by": props.last_modified_by,
            "images": len(_docx_images(d)),
        }.items()
        if v
    }
    return _finish(path, "docx", props.title or None, pages, meta, [])


def _docx_images(d: Any) -> list[Any]:
    """Image parts of the document itself (body, headers), not the package's thumbnail."""
    parts = [
        p
        for p in d.part.package.parts
        if p.content_type.startswith("image/") and str(p.partname).startswith("/word/")
    ]
    return sorted(parts, key=lambda p: str(p.partname))


def extract_docx_images(path: Path, out: Path) -> list[Path]:
    d = _open_docx(path)
    written = []
    for n, part in enumerate(_docx_images(d), start=1):
        target = out / f"{path.stem}-{n}{Path(str(part.partname)).suffix}"
        target.write_bytes(part.blob)
        written.append(target)
    return written


# -- RTF --------------------------------------------------------------------------------------
def read_rtf(path: Path) -> Document:
    from vega_lab.multimodal.document.rtf import parse_rtf

    try:
        content = parse_rtf(path.read_bytes())
    except ValueError as exc:
        raise DocumentError(
            f"{path.name} is not an RTF file ({exc})", "check the suffix matches the content"
        ) from exc
    pages = [
        Page(n, "\n\n".join(b.text for b in blocks), blocks, tables)
        for n, (blocks, tables) in enumerate(zip(content.pages, content.tables, strict=True), 1)
    ]
    if len(pages) > 1 and not pages[-1].blocks:
        pages.pop()
    meta: dict[str, Any] = dict(content.info)
    return _finish(path, "rtf", content.info.get("title"), pages, meta, list(content.warnings))
