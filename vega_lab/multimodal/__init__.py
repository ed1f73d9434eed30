"""Multimodal analysis: images, video, audio and documents, offline, plus one cross-modal index.

The façade::

    from vega_lab import multimodal as mm
    img = mm.load_image("photo.jpg")            # validated: bombs, truncation, format by content
    mm.scrub_exif("photo.jpg")                  # a clean copy, proven free of GPS/device/owner
    mm.load_detector().detect(img)              # YOLO (VEGA_YOLO_MODEL, else the tiny shapes one)
    mm.load_clip().zero_shot([img], labels)     # CLIP (VEGA_CLIP_MODEL, else the tiny shapes one)
    mm.transcribe("talk.wav").text              # faster-whisper tiny.en, shipped
    mm.read_document("paper.pdf").pages[0].tables
    index = mm.CrossModalIndex("data/index"); index.add_folder("media/")
    index.search_text("a red circle", modality="image")

Submodules: ``image`` (io, exif, hashing, quality, clip, detect, faces, ocr, shapes), ``video``,
``audio`` (io, features, charts, fingerprint, transcribe, wer), ``document`` (readers, chunking,
embed, search, qa, summarize, compare), ``index``. Names load lazily: importing this package
loads no model and no heavy library.
"""

from __future__ import annotations

from vega_lab._lazy import lazy_exports

_LAZY = {
    "BatchResult": "vega_lab.multimodal.batch",
    "process_files": "vega_lab.multimodal.batch",
    "load_image": "vega_lab.multimodal.image.io",
    "inspect_image": "vega_lab.multimodal.image.io",
    "thumbnail": "vega_lab.multimodal.image.io",
    "read_exif": "vega_lab.multimodal.image.exif",
    "scrub_exif": "vega_lab.multimodal.image.exif",
    "near_duplicates": "vega_lab.multimodal.image.hashing",
    "assess_quality": "vega_lab.multimodal.image.quality",
    "load_clip": "vega_lab.multimodal.image.clip",
    "load_detector": "vega_lab.multimodal.image.detect",
    "draw_detections": "vega_lab.multimodal.image.detect",
    "detect_faces": "vega_lab.multimodal.image.faces",
    "ocr_image": "vega_lab.multimodal.image.ocr",
    "probe_video": "vega_lab.multimodal.video",
    "scene_boundaries": "vega_lab.multimodal.video",
    "sample_scenes": "vega_lab.multimodal.video",
    "extract_audio": "vega_lab.multimodal.video",
    "load_audio": "vega_lab.multimodal.audio.io",
    "audio_features": "vega_lab.multimodal.audio.features",
    "FingerprintDB": "vega_lab.multimodal.audio.fingerprint",
    "transcribe": "vega_lab.multimodal.audio.transcribe",
    "word_error_rate": "vega_lab.multimodal.audio.wer",
    "read_document": "vega_lab.multimodal.document.readers",
    "chunk_document": "vega_lab.multimodal.document.chunking",
    "DocumentSearch": "vega_lab.multimodal.document.search",
    "answer": "vega_lab.multimodal.document.qa",
    "summarize": "vega_lab.multimodal.document.summarize",
    "diff_documents": "vega_lab.multimodal.document.compare",
    "CrossModalIndex": "vega_lab.multimodal.index",
}
__all__ = list(_LAZY)

__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
