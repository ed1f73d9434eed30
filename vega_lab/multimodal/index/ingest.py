"""From files to items: which modality a file is, and what items it contributes.

An image is one item (CLIP space); a document is one item per chunk and a recording one item
per transcript passage (MiniLM space). Preparing (decode, read, chunk, transcribe) is separated
from embedding so a folder's items can be embedded in batches, and so a file that fails to
decode is skipped before any model runs. Heavy modules are imported only for the kinds present.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vega_lab.errors import AudioError, DocumentError, MultimodalError, VegaError
from vega_lab.multimodal.batch import Skipped

__all__ = [
    "MODALITIES",
    "SPACE_OF",
    "Pending",
    "embed_batch",
    "group_segments",
    "modality_of",
    "prepare",
    "recipe",
    "supported_suffixes",
]

SPACE_OF: dict[str, str] = {"image": "clip", "document": "text", "transcript": "text"}
MODALITIES: tuple[str, ...] = tuple(SPACE_OF)
DEFAULTS: dict[str, Any] = {
    "max_chars": 800,
    "overlap": 100,
    "passage_chars": 300,
    "read_options": {},
}


@dataclass
class Pending:
    """A file read and cut into items, waiting for its vectors (``inputs[i]`` -> item ``i``)."""

    path: Path
    sha256: str
    size: int
    modality: str
    drafts: list[dict[str, Any]]
    inputs: list[Any] = field(default_factory=list)  # PIL images (CLIP) or texts (MiniLM)
    recipe: str = "{}"

    @property
    def space(self) -> str:
        return SPACE_OF[self.modality]


def supported_suffixes() -> dict[str, str]:
    """suffix -> modality for every file type the index reads."""
    from vega_lab.multimodal.audio.io import AUDIO_SUFFIXES
    from vega_lab.multimodal.document.readers import DOCUMENT_SUFFIXES
    from vega_lab.multimodal.image.io import IMAGE_SUFFIXES

    out = {s: "transcript" for s in AUDIO_SUFFIXES}
    out.update({s: "document" for s in DOCUMENT_SUFFIXES})
    out.update({s: "image" for s in IMAGE_SUFFIXES})
    return out


def modality_of(path: Path) -> str:
    suffixes = supported_suffixes()
    kind = suffixes.get(path.suffix.lower())
    if kind is None:
        raise MultimodalError(
            f"{path.name}: unsupported file type {path.suffix or '(none)'} (not indexed)",
            f"the index reads {', '.join(sorted(suffixes))}",
        )
    return kind


def recipe(modality: str, **options: Any) -> str:
    """The options that shape a file's items, as canonical JSON: re-adding an unchanged file
    with other chunk sizes re-indexes it instead of being a no-op."""
    keys = {"document": ("max_chars", "overlap", "read_options"), "transcript": ("passage_chars",)}
    given = {k: v for k, v in options.items() if v is not None}
    wanted = {k: given.get(k, DEFAULTS[k]) for k in keys.get(modality, ())}
    return json.dumps(wanted, sort_keys=True, default=str)


def group_segments(segments: Sequence[Any], max_chars: int = 300) -> list[tuple[float, float, str]]:
    """Consecutive transcript segments joined into passages of at most ~``max_chars``.

    Whisper segments are often a few words; MiniLM ranks a sentence or two of context far
    better than a fragment, and a passage still points at a precise time range.
    """
    out: list[tuple[float, float, str]] = []
    start = end = 0.0
    parts: list[str] = []
    for seg in segments:
        text = seg.text.strip()
        if not text:
            continue
        if parts and sum(len(p) + 1 for p in parts) + len(text) > max_chars:
            out.append((start, end, " ".join(parts)))
            parts = []
        if not parts:
            start = float(seg.start)
        parts.append(text)
        end = float(seg.end)
    if parts:
        out.append((start, end, " ".join(parts)))
    return out


def _image(p: Pending, thumbs: Path | None, thumb_size: int) -> None:
    from vega_lab.multimodal.image.io import load_image, thumbnail

    img = load_image(p.path)
    thumb = None
    if thumbs is not None:
        thumb = thumbs / f"{p.sha256[:32]}.jpg"
        if not thumb.is_file():
            thumbnail(img, thumb_size, out=thumb)
    p.drafts.append(
        {
            "modality": "image",
            "locator": {},
            "text": p.path.name,
            "thumbnail": None if thumb is None else str(thumb),
            "metadata": {"width": img.width, "height": img.height},
        }
    )
    p.inputs.append(img)


def _document(p: Pending, max_chars: int, overlap: int, read_options: dict[str, Any]) -> None:
    from vega_lab.multimodal.document.chunking import chunk_document
    from vega_lab.multimodal.document.readers import read_document

    doc = read_document(p.path, **read_options)
    for c in chunk_document(doc, max_chars=max_chars, overlap=overlap):
        if not c.text.strip():
            continue
        p.drafts.append(
            {
                "modality": "document",
                "locator": {"page": c.page, "chunk": c.index},
                "text": c.text,
                "metadata": {"title": doc.title, "heading": c.heading, "kind": doc.kind},
            }
        )
        p.inputs.append(c.text)
    if not p.drafts:
        raise DocumentError(
            f"{p.path.name}: no text to index",
            "a scanned PDF needs OCR: add it with read_options={'ocr': True}",
        )


def _transcript(p: Pending, transcript: Any, max_chars: int) -> None:
    if transcript is None:
        from vega_lab.multimodal.audio.transcribe import transcribe

        transcript = transcribe(p.path)
    for start, end, text in group_segments(transcript.segments, max_chars):
        p.drafts.append(
            {
                "modality": "transcript",
                "locator": {"start": round(start, 2), "end": round(end, 2)},
                "text": text,
                "metadata": {
                    "language": transcript.language,
                    "duration_s": round(float(transcript.duration_s), 2),
                },
            }
        )
        p.inputs.append(text)
    if not p.drafts:
        raise AudioError(f"{p.path.name}: no speech was recognised", "nothing to index")


def prepare(
    path: Path,
    sha256: str,
    modality: str,
    *,
    thumbs: Path | None = None,
    thumb_size: int = 256,
    max_chars: int = 800,
    overlap: int = 100,
    passage_chars: int = 300,
    read_options: dict[str, Any] | None = None,
    transcript: Any = None,
) -> Pending:
    """Read ``path`` as ``modality`` into items; bad input raises its ``MultimodalError``."""
    opts = {"max_chars": max_chars, "overlap": overlap, "passage_chars": passage_chars}
    p = Pending(path, sha256, path.stat().st_size, modality, [])
    p.recipe = recipe(modality, **opts, read_options=read_options or {})
    if modality == "image":
        _image(p, thumbs, thumb_size)
    elif modality == "document":
        _document(p, max_chars, overlap, read_options or {})
    elif modality == "transcript":
        _transcript(p, transcript, passage_chars)
    else:
        raise MultimodalError(f"unknown modality {modality!r}", f"one of {', '.join(MODALITIES)}")
    return p


def embed_batch(
    pending: Sequence[Pending], encode: Callable[[str, list[Any]], np.ndarray]
) -> tuple[list[tuple[Pending, np.ndarray]], list[Skipped]]:
    """One ``encode(space, inputs)`` call per space for a batch of files; if that call fails,
    file by file, so one input the model rejects skips its file, not the batch."""
    done: list[tuple[Pending, np.ndarray]] = []
    skipped: list[Skipped] = []
    for space in sorted({p.space for p in pending}):
        group = [p for p in pending if p.space == space]
        try:
            vecs = encode(space, [x for p in group for x in p.inputs])
        except VegaError:
            for p in group:
                try:
                    done.append((p, encode(space, p.inputs)))
                except VegaError as exc:
                    skipped.append(Skipped(p.path, str(exc)))
            continue
        bounds = np.cumsum([0] + [len(p.inputs) for p in group])
        done += [(p, vecs[a:b]) for p, a, b in zip(group, bounds[:-1], bounds[1:], strict=True)]
    ok = [(p, v) for p, v in done if np.isfinite(v).all()]
    skipped += [
        Skipped(p.path, f"{p.path.name}: the {p.space} embedder returned NaN/inf (not indexed)")
        for p, v in done
        if not np.isfinite(v).all()
    ]
    return ok, skipped
