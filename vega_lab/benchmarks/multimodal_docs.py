"""`bench_pdf`: our PDF reader vs raw PyMuPDF, with and without table detection, and MiniLM
chunk embedding speed, in one process.

The PDF is generated (seeded): each page has a 16 pt heading and three paragraphs of body text,
and every ``table_every``-th page a ruled 4x3 table. Per round, interleaved so machine noise
hits all alike:
- raw: ``pymupdf.open`` + ``page.get_text("dict")`` on every page, with the flags our reader
  uses (no image bytes), i.e. the extraction we build on;
- raw + tables: the same plus ``page.find_tables(use_layout=False)`` on every page (the
  detector we use; we skip it on pages without vector graphics, where it cannot find any);
- ours: ``read_document(path, tables=False)`` (blocks, headings, images listed, page text);
- ours + tables: ``read_document(path)``.
Figures are medians over rounds; the overheads are medians of each round's ratio. Embedding:
``chunk_document`` then ``TextEmbedder.encode`` of up to ``embed_chunks`` chunks (the model
load is timed once, apart).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

_WORDS = [
    "data", "model", "sample", "privacy", "signal", "image", "audio", "neural", "network",
    "gradient", "training", "federated", "client", "server", "noise", "budget", "epsilon",
    "table", "figure", "result", "method", "analysis", "baseline", "measure", "error",
    "accuracy", "loss", "layer", "vector", "index", "search", "query", "document", "page",
]  # fmt: skip


def make_pdf(path: Path, pages: int, table_every: int = 4, seed: int = 0) -> Path:
    """A multi-page PDF of seeded pseudo-text, a heading per page, a table every few pages."""
    import pymupdf

    rng = np.random.default_rng(seed)
    doc = pymupdf.open()
    for n in range(pages):
        page = doc.new_page()
        page.insert_text(
            (72, 72), f"Section {n + 1}: {' '.join(rng.choice(_WORDS, 3))}", fontsize=16
        )
        y = 90
        for _ in range(3):
            words = rng.choice(_WORDS, 60)
            sentences = [" ".join(words[i : i + 12]).capitalize() + "." for i in range(0, 60, 12)]
            rect = pymupdf.Rect(72, y, 520, y + 120)
            page.insert_textbox(rect, " ".join(sentences), fontsize=10)
            y += 130
        if table_every and n % table_every == 0:
            x0, y0, cw, rh = 72, 500, 140, 18
            for r in range(5):
                page.draw_line((x0, y0 + r * rh), (x0 + 3 * cw, y0 + r * rh))
            for c in range(4):
                page.draw_line((x0 + c * cw, y0), (x0 + c * cw, y0 + 4 * rh))
            for r in range(4):
                for c in range(3):
                    cell = "metric" if r == 0 else f"{rng.integers(0, 1000)}"
                    page.insert_text((x0 + c * cw + 4, y0 + r * rh + 13), cell, fontsize=9)
    doc.save(path)
    doc.close()
    return path


def _raw(path: Path, tables: bool) -> int:
    import pymupdf

    from vega_lab.multimodal.document.readers_pdf import TEXT_FLAGS

    found = 0
    with pymupdf.open(path) as doc:
        for page in doc:
            page.get_text("dict", flags=TEXT_FLAGS)
            if tables:
                found += len(page.find_tables(use_layout=False).tables)
    return found


def _timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def bench_pdf(
    pages: int = 200,
    repeats: int = 5,
    table_every: int = 4,
    embed_chunks: int = 256,
    seed: int = 0,
) -> dict[str, Any]:
    from vega_lab.multimodal.document.chunking import chunk_document
    from vega_lab.multimodal.document.embed import load_text_embedder
    from vega_lab.multimodal.document.readers import read_document

    work = Path(tempfile.mkdtemp(prefix="vega-bench-docs-"))
    path = make_pdf(work / "bench.pdf", pages, table_every, seed)
    runs: dict[str, list[float]] = {"raw": [], "raw_tables": [], "ours": [], "ours_tables": []}
    jobs: dict[str, Callable[[], Any]] = {
        "raw": lambda: _raw(path, False),
        "raw_tables": lambda: _raw(path, True),
        "ours": lambda: read_document(path, tables=False),
        "ours_tables": lambda: read_document(path),
    }
    order = list(jobs)
    doc = None
    for r in range(repeats):
        for name in order[r % len(order) :] + order[: r % len(order)]:  # rotate the order
            seconds, out = _timed(jobs[name])
            runs[name].append(seconds)
            if name == "ours_tables":
                doc = out
    med = {k: statistics.median(v) for k, v in runs.items()}

    def overhead(ours: str, base: str) -> float:
        ratios = [a / b for a, b in zip(runs[ours], runs[base], strict=True)]
        return round(100 * (statistics.median(ratios) - 1), 1)

    chunks = chunk_document(doc)[:embed_chunks]
    load_s, embedder = _timed(load_text_embedder)
    texts = [c.text for c in chunks]
    embedder.encode(texts[:8])  # warm-up: first call allocates
    embed_s = [_timed(lambda: embedder.encode(texts))[0] for _ in range(max(1, min(repeats, 3)))]
    return {
        "pages": pages,
        "repeats": repeats,
        "raw_pages_per_s": round(pages / med["raw"], 1),
        "ours_pages_per_s": round(pages / med["ours"], 1),
        "overhead_pct": overhead("ours", "raw"),
        "raw_tables_pages_per_s": round(pages / med["raw_tables"], 1),
        "ours_tables_pages_per_s": round(pages / med["ours_tables"], 1),
        "tables_overhead_pct": overhead("ours_tables", "raw_tables"),
        "table_detection_cost_pct": overhead("ours_tables", "ours"),
        "tables_found": sum(len(p.tables) for p in doc.pages),
        "headings_found": len(doc.headings),
        "embed_chunks": len(texts),
        "embed_chunks_per_s": round(len(texts) / statistics.median(embed_s), 1),
        "embed_model": embedder.name,
        "embed_device": str(embedder.model.device),
        "embed_load_s": round(load_s, 2),
    }
