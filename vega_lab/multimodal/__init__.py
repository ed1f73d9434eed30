"""Multimodal analysis: images, video, audio and documents, offline, plus one cross-modal index.

Submodules: ``image`` (validation, EXIF scrub, hashes, quality, CLIP, YOLO, faces, OCR),
``video``, ``audio`` (features, fingerprints, speech-to-text), ``document`` (PDF/DOCX/...,
chunks, semantic search, Q&A), ``index`` (the cross-modal index). Heavy models load lazily.
"""
