"""One document model for PDF, DOCX, TXT, Markdown and RTF, and the reader that picks by suffix.

Every format lands in the same ``Document -> Page -> Block/Table/ImageRef`` shape so chunking,
search, Q&A and diff are written once. Page numbers are the ones a person sees (1-based) because
they end up in citations: a non-paginated format is *not* cut into invented pages of N
characters (a "p. 3" that exists in no viewer would mislead); it gets one page, or one page per
hard page break where the format has them (DOCX page breaks, RTF ``\\page``, form feeds in TXT).
Long pages are the chunker's job, not the reader's.

Bad input (missing, empty, corrupt, encrypted, unsupported) raises ``DocumentError`` naming the
file and what to do; what a reader could only partly recover (a repaired PDF, pages without a
text layer) is read anyway and listed in ``Document.warnings``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vega_lab.errors import DocumentError
from vega_lab.multimodal.batch import BatchResult, iter_files, process_files
from vega_lab.multimodal.document.structure import Block, Document, ImageRef, Page, Table

__all__ = [
    "DOCUMENT_SUFFIXES",
    "Block",
    "Document",
    "ImageRef",
    "Page",
    "Table",
    "extract_images",
    "read_document",
    "read_folder",
]

#: suffix -> ``Document.kind``
DOCUMENT_SUFFIXES: dict[str, str] = {
    ".pdf": "pdf",
    ".docx": "docx",
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".rtf": "rtf",
}
_CONVERT_FIRST = {".doc": "docx", ".odt": "docx", ".pages": "pdf", ".xps": "pdf"}


def _check_file(path: Path) -> str:
    """The ``kind`` for ``path``, after the checks every format shares."""
    suffix = path.suffix.lower()
    if suffix not in DOCUMENT_SUFFIXES:
        if suffix in _CONVERT_FIRST:
            hint = f"convert it to {_CONVERT_FIRST[suffix]} first (e.g. 'Save as' in its editor)"
        else:
            hint = f"supported: {', '.join(sorted(DOCUMENT_SUFFIXES))}"
        raise DocumentError(f"{path.name}: unsupported document type {suffix or '(none)'}", hint)
    if not path.is_file():
        raise DocumentError(f"{path} does not exist or is not a file", "check the path")
    try:
        with path.open("rb") as fh:
            empty = not fh.read(1)
    except OSError as exc:
        raise DocumentError(
            f"cannot open {path} ({exc.strerror})", "check its permissions"
        ) from exc
    if empty:
        raise DocumentError(f"{path.name} is empty (0 bytes)", "check the file was fully copied")
    return DOCUMENT_SUFFIXES[suffix]


def read_document(
    path: str | Path, *, password: str | None = None, tables: bool = True, ocr: bool = False
) -> Document:
    """Read a document by suffix.

    ``password`` opens encrypted PDFs. ``tables=False`` skips PDF table detection (the costly
    part of reading a PDF, see ``benchmarks.multimodal_docs``). ``ocr=True`` renders PDF pages
    without a text layer and reads them with ``vega_lab.multimodal.image.ocr``.
    """
    path = Path(path)
    kind = _check_file(path)
    if kind == "pdf":
        from vega_lab.multimodal.document.readers_pdf import read_pdf

        return read_pdf(path, password=password, tables=tables, ocr=ocr)
    from vega_lab.multimodal.document import readers_text

    readers = {
        "docx": readers_text.read_docx,
        "txt": readers_text.read_txt,
        "md": readers_text.read_markdown,
        "rtf": readers_text.read_rtf,
    }
    return readers[kind](path)


def read_folder(folder: str | Path, **options: Any) -> BatchResult[Document]:
    """Every document under ``folder``; unreadable ones are skipped with the reason."""
    paths = iter_files(folder, DOCUMENT_SUFFIXES)
    return process_files(paths, lambda p: read_document(p, **options))


def extract_images(
    doc_or_path: Document | str | Path, out_dir: str | Path, *, password: str | None = None
) -> list[Path]:
    """Write the embedded images of a PDF or DOCX to ``out_dir`` in their own format; the
    written paths, named ``<stem>-p<page>-<n>.<ext>`` (PDF) or ``<stem>-<n>.<ext>`` (DOCX)."""
    path = doc_or_path.path if isinstance(doc_or_path, Document) else Path(doc_or_path)
    kind = _check_file(path)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if kind == "pdf":
        from vega_lab.multimodal.document.readers_pdf import extract_pdf_images

        return extract_pdf_images(path, out, password)
    if kind == "docx":
        from vega_lab.multimodal.document.readers_text import extract_docx_images

        return extract_docx_images(path, out)
    return []  # text formats carry no images
