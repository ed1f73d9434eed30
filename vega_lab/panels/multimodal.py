"""MultimodalPanel: pick or upload a file, see what the library makes of it, search the index.

One tab per modality (image: detections drawn, faces, quality, EXIF and a scrub; audio:
waveform, spectrogram and transcript; video: scene frames; document: text, tables and Q&A)
and a Search tab over the cross-modal index with a thumbnail gallery. Every button calls one
library function; a bad file or a missing model shows its ``VegaError`` in the status line.
Actions run in the kernel's thread (each takes seconds, not minutes), so a notebook or a test
can call the same methods the buttons call: ``show_file``, ``scrub``, ``similar``, ``ask``,
``index_folder``, ``search``.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import ipywidgets as w

from vega_lab.charts import to_svg
from vega_lab.config import get_settings
from vega_lab.errors import MultimodalError, VegaError
from vega_lab.panels.base import status_html
from vega_lab.panels.multimodal_views import (
    gallery_html,
    hits_html,
    kv_table,
    png_bytes,
    rows_table,
)

__all__ = ["MultimodalPanel", "modality_of"]

T = TypeVar("T")
TABS = ("image", "audio", "video", "document", "search")
MODALITIES = ("all", "image", "video", "document", "transcript")


def modality_of(path: str | Path) -> str:
    """Which tab a file belongs to, by suffix (an unknown suffix is a ``MultimodalError``)."""
    from vega_lab.multimodal.kinds import file_kind

    kind = file_kind(path)
    if kind is None:
        suffix = Path(path).suffix.lower()
        raise MultimodalError(
            f"{Path(path).name}: no viewer for {suffix or 'files without a suffix'}",
            "open an image, audio, video or document file",
        )
    return kind


class MultimodalPanel(w.VBox):
    """Files of ``folder`` (default data/media) in a picker; ``index_path`` default data/index.

    ``detector``, ``clip``, ``text_embedder`` and ``conversation`` default to the configured
    models (loaded on first use); pass them to share already-loaded ones.
    """

    def __init__(
        self,
        folder: str | Path | None = None,
        index_path: str | Path | None = None,
        *,
        detector: Any = None,
        clip: Any = None,
        text_embedder: Any = None,
        conversation: Any = None,
        max_tokens: int = 128,
        transcribe: bool = True,
    ) -> None:
        settings = get_settings()
        self.folder = Path(folder) if folder else settings.data_path / "media"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.index_path = Path(index_path) if index_path else settings.data_path / "index"
        self._detector, self._clip, self._text = detector, clip, text_embedder
        self.conversation, self.max_tokens = conversation, max_tokens
        self.auto_transcribe = transcribe
        self._index: Any = None
        self.path: Path | None = None
        self.error: BaseException | None = None
        self.last: dict[str, Any] = {}  # what the latest action produced, for notebooks/tests

        self.picker = w.Dropdown(description="file", layout=w.Layout(width="420px"))
        self.refresh_button = w.Button(description="refresh", icon="refresh")
        self.upload = w.FileUpload(multiple=True, description="upload")
        self.status = w.HTML()
        self.status.add_class("vega-status")
        # Image tab
        self.image_view = w.Image(format="png", layout=w.Layout(max_width="480px"))
        self.image_info, self.exif_view = w.HTML(), w.HTML()
        self.scrub_button = w.Button(description="scrub EXIF", icon="user-secret", disabled=True)
        self.similar_button = w.Button(description="find similar", icon="clone", disabled=True)
        # Audio, video and document tabs
        self.audio_chart, self.transcript = w.HTML(), w.HTML()
        self.video_view, self.video_info = w.Image(format="png"), w.HTML()
        self.doc_text, self.doc_tables = w.HTML(), w.HTML()
        self.question = w.Text(placeholder="ask this document…", layout=w.Layout(width="420px"))
        self.ask_button = w.Button(description="ask", icon="question", disabled=True)
        self.answer_view = w.HTML()
        # Search tab
        self.query = w.Text(placeholder="search images, documents, transcripts…")
        self.modality = w.Dropdown(options=MODALITIES, value="all", description="in")
        self.search_button = w.Button(description="search", icon="search")
        self.index_button = w.Button(description="index folder", icon="plus")
        self.gallery, self.results = w.HTML(), w.HTML()
        self.gallery.add_class("vega-gallery-box")

        self.tabs = w.Tab(
            children=[
                w.VBox(
                    [
                        self.image_view,
                        self.image_info,
                        w.HBox([self.scrub_button, self.similar_button]),
                        self.exif_view,
                    ]
                ),
                w.VBox([self.audio_chart, self.transcript]),
                w.VBox([self.video_info, self.video_view]),
                w.VBox(
                    [
                        self.doc_text,
                        self.doc_tables,
                        w.HBox([self.question, self.ask_button]),
                        self.answer_view,
                    ]
                ),
                w.VBox(
                    [
                        w.HBox([self.query, self.modality, self.search_button, self.index_button]),
                        self.gallery,
                        self.results,
                    ]
                ),
            ]
        )
        for i, name in enumerate(TABS):
            self.tabs.set_title(i, name)
        super().__init__(
            [w.HBox([self.picker, self.refresh_button, self.upload]), self.status, self.tabs]
        )
        self.add_class("vega-multimodal-panel")
        self.refresh()
        self.picker.observe(lambda ch: ch["new"] and self.show_file(ch["new"]), "value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.upload.observe(lambda _: self._save_uploads(), "value")
        self.scrub_button.on_click(lambda _: self.scrub())
        self.similar_button.on_click(lambda _: self.similar())
        self.ask_button.on_click(lambda _: self.ask())
        self.search_button.on_click(lambda _: self.search())
        self.index_button.on_click(lambda _: self.index_folder())

    # ---- files ------------------------------------------------------------------------------
    def refresh(self) -> None:
        """List the folder's files (hidden ones left out) in the picker."""
        from vega_lab.multimodal.batch import iter_files

        files = iter_files(self.folder)
        self.picker.options = [("", "")] + [
            (p.relative_to(self.folder).as_posix(), str(p)) for p in files
        ]

    def _save_uploads(self) -> None:
        """Uploaded files land in ``folder/uploads`` (names stripped to their last part)."""
        target = self.folder / "uploads"
        target.mkdir(parents=True, exist_ok=True)
        saved = []
        for item in self.upload.value:
            name = Path(str(item["name"])).name
            if not name or name.startswith("."):
                continue
            (target / name).write_bytes(bytes(item["content"]))
            saved.append(name)
        self.refresh()
        self._say(f"uploaded {', '.join(saved) or 'nothing'}", "success" if saved else "warning")

    def show_file(self, path: str | Path) -> str | None:
        """Show ``path`` in its modality's tab; returns the modality (None if it failed)."""
        self.path = Path(path)
        self.scrub_button.disabled = self.ask_button.disabled = True
        self.similar_button.disabled = True
        return self._guard(f"opening {self.path.name}", lambda: self._open(self.path))

    def _open(self, path: Path) -> str:
        kind = modality_of(path)
        getattr(self, f"_show_{kind}")(path)
        self.tabs.selected_index = TABS.index(kind)
        return kind

    # ---- one view per modality ------------------------------------------------------------
    def _show_image(self, path: Path) -> None:
        from vega_lab.multimodal.image.detect import draw_detections, load_detector
        from vega_lab.multimodal.image.exif import read_exif
        from vega_lab.multimodal.image.faces import detect_faces
        from vega_lab.multimodal.image.io import inspect_image, load_image
        from vega_lab.multimodal.image.quality import assess_quality

        img = load_image(path)  # decodes and validates the whole file once
        info = inspect_image(path, decode=False)  # so the header is enough here
        if self._detector is None:
            self._detector = load_detector()
        dets = self._detector.detect(img)[0]
        try:
            faces: list[Any] | None = detect_faces(img)
        except VegaError:  # no face model usable here: the rest of the view still helps
            faces = None
        quality = assess_quality(img)
        exif = read_exif(path)
        self.image_view.value = png_bytes(draw_detections(img, dets))
        found = ", ".join(f"{d.label} {d.confidence:.2f}" for d in dets) or "none"
        self.image_info.value = kv_table(
            {
                "size": f"{info.width}×{info.height} {info.format}",
                "objects": found,
                "faces": "n/a" if faces is None else len(faces),
                "blur score": f"{quality.blur_score:.1f}"
                + (" (blurry)" if quality.is_blurry else " (sharp)"),
                "exposure": quality.as_dict().get("exposure", ""),
            }
        )
        self.exif_view.value = "<b>EXIF</b>" + kv_table(exif, "no EXIF metadata")
        self.scrub_button.disabled = self.similar_button.disabled = False
        self.last = {"detections": dets, "faces": faces, "quality": quality, "exif": exif}
        self._say(f"{path.name}: {len(dets)} objects, {len(faces or [])} faces", "success")

    def _show_audio(self, path: Path) -> None:
        from vega_lab.multimodal.audio.charts import spectrogram_chart, waveform_chart
        from vega_lab.multimodal.audio.io import load_audio

        y, sr = load_audio(path)
        self.audio_chart.value = to_svg(waveform_chart(y, sr)) + to_svg(spectrogram_chart(y, sr))
        self.last = {"duration_s": len(y) / sr}
        if self.auto_transcribe:
            from vega_lab.multimodal.audio.transcribe import transcribe

            t = transcribe(y, sr=sr)
            self.last["transcript"] = t
            lines = "".join(
                f"<li><code>{s.start:.1f}–{s.end:.1f} s</code> {html.escape(s.text)}</li>"
                for s in t.segments
            )
            head = f"<b>transcript</b> ({t.engine}, RTF {t.rtf:.2f})"
            self.transcript.value = f"{head}<ul>{lines}</ul>"
        self._say(f"{path.name}: {len(y) / sr:.1f} s of audio", "success")

    def _show_video(self, path: Path) -> None:
        from vega_lab.multimodal.video import contact_sheet, probe_video, sample_scenes

        info = probe_video(path)
        frames = sample_scenes(path, max_side=320)
        self.video_view.value = png_bytes(contact_sheet(frames, cols=4), 800)
        self.video_info.value = kv_table(
            {
                "duration": f"{info.duration_s:.1f} s",
                "size": f"{info.width}×{info.height} @ {info.fps:.1f} fps",
                "scenes": len(frames),
                "audio": info.audio_codec if info.has_audio else "none",
            }
        )
        self.last = {"info": info, "scenes": frames}
        self._say(f"{path.name}: {len(frames)} scenes", "success")

    def _show_document(self, path: Path) -> None:
        from vega_lab.multimodal.document.readers import read_document

        doc = read_document(path)
        parts = []
        for page in doc.pages[:3]:
            for block in page.blocks[:40]:
                tag = "h4" if block.kind == "heading" else "p"
                parts.append(f"<{tag}>{html.escape(block.text)}</{tag}>")
        more = f"<i>… {len(doc.pages) - 3} more pages</i>" if len(doc.pages) > 3 else ""
        self.doc_text.value = "".join(parts) + more or "<i>no text layer</i>"
        tables = [t for page in doc.pages for t in page.tables]
        self.doc_tables.value = "".join(rows_table(t.rows) for t in tables[:5])
        self.ask_button.disabled = False
        self.last = {"document": doc, "tables": tables}
        self._say(f"{path.name}: {len(doc.pages)} pages, {len(tables)} tables", "success")

    # ---- actions ----------------------------------------------------------------------------
    def scrub(self) -> Any:
        """Write an EXIF-free copy of the open image beside it and show what was removed."""
        from vega_lab.multimodal.image.exif import scrub_exif

        def work() -> Any:
            if self.path is None:
                raise MultimodalError("no image is open", "pick an image first")
            report = scrub_exif(self.path)
            self.exif_view.value = (
                f"<b>scrubbed copy</b> {html.escape(report.dst.name)}: removed "
                f"{html.escape(', '.join(report.removed) or 'nothing private')}"
            )
            self.refresh()
            return report

        return self._guard("scrubbing", work)

    def ask(self, question: str | None = None) -> Any:
        """Answer a question from the open document through the chat model, citing pages."""
        from vega_lab.multimodal.document.qa import answer

        q = (question if question is not None else self.question.value).strip()

        def work() -> Any:
            if not q:
                raise MultimodalError("the question is empty", "type a question first")
            doc = self.last.get("document")
            if doc is None:
                raise MultimodalError("no document is open", "pick a PDF, DOCX, TXT or MD file")
            ans = answer(
                q, doc, conversation=self.conversation, max_tokens=self.max_tokens,
                embedder=self._text,
            )  # fmt: skip
            cites = ", ".join(c.tag for c in ans.citations)
            self.answer_view.value = (
                f"<p>{html.escape(ans.text)}</p><small>sources: {html.escape(cites)}</small>"
            )
            return ans

        return self._guard("asking", work)

    @property
    def index(self) -> Any:
        if self._index is None:
            from vega_lab.multimodal.index import CrossModalIndex

            self._index = CrossModalIndex(self.index_path, self._clip, self._text)
        return self._index

    def index_folder(self) -> Any:
        """Add the folder's files to the index; bad files are listed, the rest indexed."""

        def work() -> Any:
            result = self.index.add_folder(self.folder)
            skipped = "".join(f"<li>{html.escape(str(s.path))}: {html.escape(s.error)}</li>"
                              for s in result.skipped)  # fmt: skip
            self.results.value = f"<ul>{skipped}</ul>" if skipped else ""
            self._say(f"indexed {len(result)} files, skipped {len(result.skipped)}", "success")
            return result

        return self._guard("indexing", work)

    def similar(self) -> list[Any]:
        """Images and video scenes that look like the open image (CLIP image-to-image)."""

        def work() -> list[Any]:
            if self.path is None:
                raise MultimodalError("no image is open", "pick an image first")
            hits = self.index.search_image(self.path, k=12)
            self._show_hits(hits, f"{len(hits)} images like {self.path.name}")
            return hits

        self.tabs.selected_index = TABS.index("search")
        return self._guard("finding similar images", work) or []

    def _show_hits(self, hits: list[Any], summary: str) -> None:
        self.gallery.value = gallery_html(hits)
        self.results.value = hits_html(hits)
        self._say(summary, "success")

    def search(self, query: str | None = None, modality: str | None = None) -> list[Any]:
        """Search the index by text; image hits also fill the thumbnail gallery."""
        q = query if query is not None else self.query.value
        mod = modality or self.modality.value

        def work() -> list[Any]:
            hits = self.index.search_text(q, k=12, modality=None if mod == "all" else mod)
            self._show_hits(hits, f"{len(hits)} results for {q!r}")
            return hits

        self.tabs.selected_index = TABS.index("search")
        return self._guard("searching", work) or []

    # ---- status -----------------------------------------------------------------------------
    def _guard(self, what: str, fn: Callable[[], T]) -> T | None:
        """Run one action; a ``VegaError`` lands in the status line (and ``self.error``)."""
        self.error = None
        self._say(f"{what}…", "info")
        try:
            return fn()
        except VegaError as exc:
            self.error = exc
            self._say(str(exc), "danger")
            return None

    def _say(self, text: str, style: str) -> None:
        self.status.value = status_html(text, style)
