"""`vega-lab media ...`: thin faces on `vega_lab.multimodal` (index, search, scrub, transcribe)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from vega_lab.cli.common import JsonOpt, Typer, emit_json

media = Typer(
    help="Images, audio, video and documents: the cross-modal index and file tools.",
    no_args_is_help=True,
)

IndexOpt = Annotated[
    Path | None, typer.Option("--index", help="Index folder (default data/index).")
]


def _index(path: Path | None):
    from vega_lab.config import get_settings
    from vega_lab.multimodal.index import CrossModalIndex

    return CrossModalIndex(path or get_settings().data_path / "index")


@media.command("index")
def index_folder(
    folder: Annotated[Path, typer.Argument(help="Folder of images, videos, documents, audio.")],
    index: IndexOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Add a folder to the cross-modal index; bad files are listed and skipped."""
    idx = _index(index)
    result = idx.add_folder(folder)
    for s in result.skipped:
        typer.echo(f"skipped {s.path}: {s.error}", err=True)
    typer.echo(f"{len(result)} files indexed, {len(result.skipped)} skipped; {idx!r}")
    if as_json:
        emit_json({"indexed": len(result), "skipped": len(result.skipped), **idx.stats()})


@media.command("search")
def search(
    query: Annotated[str, typer.Argument(help="Text to search for.")],
    k: Annotated[int, typer.Option(min=1, help="Results.")] = 10,
    modality: Annotated[
        str | None, typer.Option(help="image | video | document | transcript (default all).")
    ] = None,
    index: IndexOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Search the index by text: images and video scenes (CLIP), documents and speech (MiniLM)."""
    hits = _index(index).search_text(query, k=k, modality=modality)
    for h in hits:
        typer.echo(str(h))
    if as_json:
        emit_json(
            [{"score": h.score, "modality": h.modality, "where": h.where, "source": h.source}
             for h in hits]
        )  # fmt: skip


@media.command("scrub")
def scrub(
    src: Annotated[Path, typer.Argument(help="An image, or a folder of images.")],
    dst: Annotated[Path | None, typer.Argument(help="Clean copy (file or folder).")] = None,
) -> None:
    """Write metadata-free copies (GPS, device, owner removed) and prove the fields are gone."""
    from vega_lab.multimodal.image.exif import scrub_exif, scrub_folder

    if src.is_dir():
        if dst is None:
            raise typer.BadParameter("a folder needs a destination folder")
        result = scrub_folder(src, dst)
        for s in result.skipped:
            typer.echo(f"skipped {s.path}: {s.error}", err=True)
        typer.echo(f"{len(result)} clean copies in {dst}, {len(result.skipped)} skipped")
        return
    report = scrub_exif(src, dst)
    typer.echo(f"{report.dst}: removed {', '.join(report.removed) or 'nothing private'}")


@media.command("transcribe")
def transcribe(
    path: Annotated[Path, typer.Argument(help="An audio file (or a video's soundtrack).")],
    model: Annotated[str | None, typer.Option(help="tiny.en, a CTranslate2 dir or a .pt.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Speech to text, offline (faster-whisper tiny.en by default)."""
    from vega_lab.multimodal.audio.transcribe import transcribe as run

    t = run(path, model=model)
    for s in t.segments:
        typer.echo(f"[{s.start:6.1f} – {s.end:6.1f}] {s.text.strip()}")
    typer.echo(f"({t.engine} {t.model}: {t.duration_s:.1f} s of audio, RTF {t.rtf:.2f})")
    if as_json:
        emit_json({"text": t.text, "duration_s": t.duration_s, "rtf": t.rtf, "engine": t.engine})


@media.command("summarize")
def summarize(
    path: Annotated[Path, typer.Argument(help="A PDF, DOCX, TXT, Markdown or RTF file.")],
    sentences: Annotated[int, typer.Option(min=1, help="Sentences to keep.")] = 3,
    method: Annotated[str, typer.Option(help="extractive (offline, TextRank) | llm.")] = (
        "extractive"
    ),
) -> None:
    """A short summary: the document's most central sentences, in order (or the chat model's)."""
    from vega_lab.multimodal.document.summarize import summarize as run

    typer.echo(run(path, method=method, sentences=sentences).text)


@media.command("diff")
def diff(
    a: Annotated[Path, typer.Argument(help="The older document.")],
    b: Annotated[Path, typer.Argument(help="The newer document.")],
) -> None:
    """Paragraphs added, removed and changed between two documents, with their pages."""
    from vega_lab.multimodal.document.compare import diff_documents

    d = diff_documents(a, b)
    typer.echo(d.unified or "(no differences)")
    typer.echo(f"similarity {d.similarity:.3f}, {len(d.changes)} changes")


@media.command("dupes")
def dupes(
    folder: Annotated[Path, typer.Argument(help="A folder of images and documents.")],
    as_json: JsonOpt = False,
) -> None:
    """Near-duplicate images (perceptual hashes) and documents (MinHash over word shingles)."""
    from vega_lab.multimodal.batch import iter_files
    from vega_lab.multimodal.document.compare import near_duplicate_documents
    from vega_lab.multimodal.document.readers import DOCUMENT_SUFFIXES
    from vega_lab.multimodal.image.hashing import near_duplicates
    from vega_lab.multimodal.image.io import IMAGE_SUFFIXES

    images = near_duplicates(iter_files(folder, IMAGE_SUFFIXES))
    docs = near_duplicate_documents(iter_files(folder, DOCUMENT_SUFFIXES))
    groups = [("image", [str(p) for p in g.paths]) for g in images]
    groups += [("document", [str(p) for p in g.paths]) for g in docs]
    for kind, paths in groups:
        typer.echo(f"[{kind}] " + "  ==  ".join(paths))
    for s in [*images.skipped, *docs.skipped]:
        typer.echo(f"skipped {s.path}: {s.error}", err=True)
    typer.echo(f"{len(groups)} groups of near-duplicates")
    if as_json:
        emit_json([{"kind": k, "paths": p} for k, p in groups])
