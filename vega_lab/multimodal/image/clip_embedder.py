"""An open_clip model as an embedder, and open_clip's ``local-dir`` folder format.

What both ``clip`` (which loads models by spec) and ``tiny_clip`` (which trains one and saves
it in that format) need, so neither imports the other for it: ``clip`` -> ``tiny_clip`` ->
this module. ``ClipEmbedder.name`` identifies the embedding space (the weights' hash).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from vega_lab.errors import ModelWeightsError, MultimodalError
from vega_lab.multimodal.image.io import as_rgb

__all__ = [
    "FOLDER_WEIGHTS",
    "OPEN_CLIP_CONFIG",
    "ClipEmbedder",
    "state_digest",
    "weights_digest",
    "write_clip_folder",
]

OPEN_CLIP_CONFIG = "open_clip_config.json"  # open_clip's local-dir format
# weights files open_clip's local-dir loader picks, in its order of preference
FOLDER_WEIGHTS = (
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
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
