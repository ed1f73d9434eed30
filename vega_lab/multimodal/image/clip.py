"""CLIP image/text embeddings through open_clip: the one embedder the index and the panels use.

``load_clip`` resolves a spec to open_clip weights on disk and never downloads: no pretrained
CLIP ships offline, so ``spec=None`` (and no ``VEGA_CLIP_MODEL``) gives the tiny shapes CLIP
trained here (``tiny_clip``), saved in open_clip's own ``local-dir`` format so it loads through
the same factory as real weights. ``ClipEmbedder.name`` identifies the embedding space (the
weights' hash), so an index can refuse to mix vectors from two models.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vega_lab.errors import ModelWeightsError, MultimodalError
from vega_lab.multimodal.image.io import as_rgb

__all__ = ["ClipEmbedder", "load_clip", "state_digest", "weights_digest", "write_clip_folder"]

OPEN_CLIP_CONFIG = "open_clip_config.json"  # open_clip's local-dir format
# weights files open_clip's local-dir loader picks, in its order of preference
FOLDER_WEIGHTS = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
)
_SPEC_HINT = (
    "set VEGA_CLIP_MODEL (or pass spec) to 'ArchName:/path/to/weights' with an architecture "
    "from open_clip.list_models() and a weights file on disk, or to a folder saved by "
    "vega_lab.multimodal.image.tiny_clip; unset it for the tiny shapes CLIP"
)
_DIGESTS: dict[tuple[str, int, int], str] = {}


def weights_digest(path: str | Path) -> str:
    """sha256 of a weights file (memoized by path, size and mtime: big files hash once)."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        with p.open("rb") as f:
            _DIGESTS[key] = hashlib.file_digest(f, "sha256").hexdigest()
    return _DIGESTS[key]


def _state_bytes(model: Any) -> bytes:
    from safetensors.torch import save

    return save({k: v.contiguous() for k, v in model.state_dict().items()})


def state_digest(model: Any) -> str:
    """sha256 of the safetensors file ``write_clip_folder`` would write for ``model``: an
    in-memory model gets the same name it will have once saved and reloaded."""
    return hashlib.sha256(_state_bytes(model)).hexdigest()


def write_clip_folder(model: Any, folder: str | Path) -> Path:
    """Save in open_clip's local-dir format (config JSON + safetensors: no pickle), which
    ``load_clip(folder)`` reads back. The model must carry ``vega_model_cfg``, as models from
    ``tiny_clip`` and from ``load_clip(folder)`` do."""
    cfg = getattr(model, "vega_model_cfg", None)
    if cfg is None:
        raise ModelWeightsError(
            "this model carries no open_clip config", "save models from tiny_clip or load_clip"
        )
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    meta = {"model_cfg": cfg, "preprocess_cfg": dict(model.visual.preprocess_cfg)}
    (out / OPEN_CLIP_CONFIG).write_text(json.dumps(meta, indent=1), "utf-8")
    (out / FOLDER_WEIGHTS[0]).write_bytes(_state_bytes(model))
    return out


class ClipEmbedder:
    """An open_clip model with its preprocessing and tokenizer; all outputs L2-normalized."""

    def __init__(
        self, model: Any, preprocess: Any, tokenizer: Any, name: str, device: str = "cpu"
    ) -> None:
        import torch

        self.model = model.eval()
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.name = name
        self.device = device
        with torch.inference_mode():
            probe = model.encode_text(tokenizer(["a"]).to(device))
            self.logit_scale = float(model.logit_scale.exp().clamp(max=100))
        self.dim: int = int(probe.shape[-1])

    def __repr__(self) -> str:
        return f"ClipEmbedder({self.name!r}, dim={self.dim}, device={self.device!r})"

    def encode_images(self, images: Sequence[Any], batch_size: int = 64) -> np.ndarray:
        """(n, dim) float32 unit vectors; paths are read one batch at a time."""
        import torch

        if batch_size < 1:
            raise MultimodalError(f"batch_size must be >= 1, got {batch_size}")
        out = np.empty((len(images), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for i in range(0, len(images), batch_size):
                chunk = images[i : i + batch_size]
                x = torch.stack([self.preprocess(as_rgb(im, "embed")) for im in chunk])
                feats = self.model.encode_image(x.to(self.device), normalize=True)
                out[i : i + len(chunk)] = feats.float().cpu().numpy()
        return out

    def encode_texts(self, texts: Sequence[str], batch_size: int = 256) -> np.ndarray:
        """(n, dim) float32 unit vectors in the same space as ``encode_images``."""
        import torch

        if isinstance(texts, str):
            raise MultimodalError("encode_texts takes a list of strings", "wrap it: [text]")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        with torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                tokens = self.tokenizer(list(texts[i : i + batch_size])).to(self.device)
                feats = self.model.encode_text(tokens, normalize=True)
                out[i : i + len(tokens)] = feats.float().cpu().numpy()
        return out

    def _embeddings(self, images: Sequence[Any] | np.ndarray) -> np.ndarray:
        if isinstance(images, np.ndarray):
            if images.ndim != 2 or images.shape[1] != self.dim:
                raise MultimodalError(
                    f"embeddings of shape {images.shape} do not fit this model (dim {self.dim})",
                    f"encode the images with {self.name}",
                )
            return images.astype(np.float32, copy=False)
        return self.encode_images(images)

    def zero_shot(
        self,
        images: Sequence[Any] | np.ndarray,
        labels: Sequence[str],
        template: str = "a photo of a {}",
    ) -> np.ndarray:
        """(n, len(labels)) probabilities: softmax of logit_scale * cosine, as CLIP was trained.

        ``images`` may also be embeddings from ``encode_images`` (skips re-encoding).
        """
        if not labels:
            raise MultimodalError("zero_shot needs at least one label")
        if "{}" not in template:
            raise MultimodalError(f"template {template!r} has no '{{}}'", "e.g. 'a photo of a {}'")
        logits = (
            self.logit_scale
            * self._embeddings(images)
            @ self.encode_texts([template.format(lab) for lab in labels]).T
        )
        logits -= logits.max(axis=1, keepdims=True)
        probs = np.exp(logits)
        return (probs / probs.sum(axis=1, keepdims=True)).astype(np.float32)

    def search(
        self, query: str, image_embeddings: np.ndarray, k: int = 5
    ) -> list[tuple[int, float]]:
        """The ``k`` images closest to ``query``: (row, cosine) pairs, best first."""
        emb = self._embeddings(np.asarray(image_embeddings))
        if k < 1 or len(emb) == 0:
            return []
        scores = emb @ self.encode_texts([query])[0]
        k = min(k, len(scores))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(int(i), float(scores[i])) for i in top]


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

    from vega_lab.multimodal.image import tiny_clip

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
        from vega_lab.multimodal.image.tiny_clip import ensure_tiny_clip

        return _load_folder(ensure_tiny_clip(), device)
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
