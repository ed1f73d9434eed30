"""CLIP image/text embeddings through open_clip: the one embedder the index and the panels use.

``load_clip`` resolves a spec to open_clip weights on disk and never downloads: no pretrained
CLIP ships offline, so ``spec=None`` (and no ``VEGA_CLIP_MODEL``) gives the tiny shapes CLIP
trained here (``tiny_clip``), saved in open_clip's own ``local-dir`` format so it loads through
the same factory as real weights. ``ClipEmbedder.name`` identifies the embedding space (the
weights' hash), so an index can refuse to mix vectors from two models.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path

from vega_lab.errors import ModelWeightsError, MultimodalError
from vega_lab.multimodal.image import tiny_clip
from vega_lab.multimodal.image.clip_embedder import (
    FOLDER_WEIGHTS,
    OPEN_CLIP_CONFIG,
    ClipEmbedder,
    state_digest,
    weights_digest,
    write_clip_folder,
)

__all__ = ["ClipEmbedder", "load_clip", "state_digest", "weights_digest", "write_clip_folder"]

_SPEC_HINT = (
    "set VEGA_CLIP_MODEL (or pass spec) to 'ArchName:/path/to/weights' with an architecture "
    "from open_clip.list_models() and a weights file on disk, or to a folder saved by "
    "vega_lab.multimodal.image.tiny_clip; unset it for the tiny shapes CLIP"
)


def _known_archs(arch: str) -> str:
    import open_clip

    names = open_clip.list_models()
    close = difflib.get_close_matches(arch, names, n=5, cutoff=0.4)
    return ", ".join(
        close or [n for n in ("ViT-B-32", "ViT-B-16", "ViT-L-14", "RN50") if n in names]
    )


def _load_folder(folder: Path, device: str) -> ClipEmbedder:
    """A folder in open_clip's local-dir format (the tiny CLIP is saved this way)."""
    import open_clip

    cfg_file = folder / OPEN_CLIP_CONFIG
    weights = next((folder / f for f in FOLDER_WEIGHTS if (folder / f).is_file()), None)
    if not cfg_file.is_file() or weights is None:
        raise ModelWeightsError(
            f"{folder} is not a saved CLIP folder (needs {OPEN_CLIP_CONFIG} and one of "
            f"{', '.join(FOLDER_WEIGHTS)})",
            _SPEC_HINT,
        )
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            f"local-dir:{folder}", device=device
        )
        tokenizer = open_clip.get_tokenizer(f"local-dir:{folder}")
        model_cfg = json.loads(cfg_file.read_text(encoding="utf-8"))["model_cfg"]
    except Exception as exc:  # torch/safetensors/json raise many types for one bad file
        raise ModelWeightsError(f"cannot load CLIP folder {folder}: {exc}", _SPEC_HINT) from exc
    model.vega_model_cfg = model_cfg  # lets write_clip_folder save it again
    kind = tiny_clip.NAME_PREFIX if (folder / tiny_clip.INFO_FILE).is_file() else "local-dir"
    name = f"clip:{kind}-{weights_digest(weights)[:12]}"
    return ClipEmbedder(model, preprocess, tokenizer, name, device)


def _load_arch(arch: str, weights: str, device: str) -> ClipEmbedder:
    """``Arch:/path``: open_clip's own factory with a local file as ``pretrained``."""
    import open_clip

    if arch not in open_clip.list_models():
        raise ModelWeightsError(
            f"unknown open_clip architecture {arch!r} (close: {_known_archs(arch)})", _SPEC_HINT
        )
    path = Path(weights).expanduser()
    if not path.is_file():
        if open_clip.is_pretrained_cfg(arch, weights):
            raise ModelWeightsError(
                f"'{arch}:{weights}' names a pretrained tag, which would be downloaded; "
                "nothing is downloaded here",
                f"fetch the weights once on a connected machine (open_clip caches them as "
                f"open_clip_model.safetensors) and set VEGA_CLIP_MODEL='{arch}:/path/to/file'",
            )
        raise ModelWeightsError(f"CLIP weights file {path} does not exist", _SPEC_HINT)
    try:
        model, _, preprocess = open_clip.create_model_and_transforms(
            arch, pretrained=str(path), device=device
        )
        tokenizer = open_clip.get_tokenizer(arch)
    except Exception as exc:  # unpickling, safetensors, shape mismatch: all "bad weights"
        raise ModelWeightsError(
            f"cannot load {path} as open_clip {arch!r}: {str(exc)[:300]}",
            "check that the file holds weights for that architecture; " + _SPEC_HINT,
        ) from exc
    name = f"clip:{arch}:{weights_digest(path)[:12]}"
    return ClipEmbedder(model, preprocess, tokenizer, name, device)


def _check_device(device: str) -> None:
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise MultimodalError(f"unknown torch device {device!r}", "use 'cpu' or 'cuda'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise MultimodalError(f"device {device!r} asked for, but CUDA is not available", "use cpu")


def load_clip(spec: str | None = None, *, device: str = "cpu") -> ClipEmbedder:
    """The CLIP named by ``spec`` (default: ``VEGA_CLIP_MODEL``, else the tiny shapes CLIP).

    ``spec`` is ``"ArchName:/path/to/weights"`` or a folder saved by ``tiny_clip``; pretrained
    tags such as ``"ViT-B-32:openai"`` are refused because they would download.
    """
    from vega_lab.config import get_settings

    settings = get_settings()  # also forces HF_HUB_OFFLINE: tokenizers must not download
    _check_device(device)
    spec = spec if spec is not None else settings.clip_model
    if spec is None:
        return _load_folder(tiny_clip.ensure_tiny_clip(), device)
    spec = str(spec).strip()
    if not spec:
        raise ModelWeightsError("empty CLIP spec", _SPEC_HINT)
    if spec.startswith("hf-hub:"):
        raise ModelWeightsError(f"{spec!r} would download from the Hugging Face Hub", _SPEC_HINT)
    if spec.startswith("local-dir:"):
        spec = spec.removeprefix("local-dir:")
        if not Path(spec).expanduser().is_dir():
            raise ModelWeightsError(f"CLIP folder {spec} does not exist", _SPEC_HINT)
    if Path(spec).expanduser().is_dir():
        return _load_folder(Path(spec).expanduser().resolve(), device)
    arch, sep, weights = spec.partition(":")
    if not sep:
        if Path(spec).suffix:  # looks like a path, not an architecture
            raise ModelWeightsError(f"CLIP weights {spec} do not exist", _SPEC_HINT)
        raise ModelWeightsError(f"CLIP spec {spec!r} names no weights file", _SPEC_HINT)
    return _load_arch(arch, weights, device)
