"""CLIP image encoding: ``ClipEmbedder.encode_images`` against a plain open_clip loop.

Both sides encode the same in-memory PIL images (no file reads) with the same model and the
model's own transform, in batches: the raw side is the loop a user would write (preprocess each
image, ``torch.stack``, ``model.encode_image``, L2-normalize, to numpy). Rounds alternate which
side goes first so drift in the machine's speed hits both alike; an untimed warm-up pays one-time
costs. Overhead % = (raw rate / our rate - 1) * 100 from the median seconds per side (and
from the fastest round, which a shared machine's load spikes disturb less).

Models: ``ViT-B-32`` with random weights (open_clip builds it without downloading when no
``pretrained`` is given; speed does not depend on the weights' values) for a realistic size, and
the cached tiny shapes CLIP, whose stored zero-shot accuracies are reported too.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from vega_lab.models.threads import torch_threads
from vega_lab.multimodal.image import shapes
from vega_lab.multimodal.image.clip import ClipEmbedder, load_clip


def _raw_encoder(
    model: Any, preprocess: Any, batch_size: int, device: str
) -> Callable[[list], np.ndarray]:
    import torch

    def encode(images: list) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for i in range(0, len(images), batch_size):
                x = torch.stack([preprocess(im) for im in images[i : i + batch_size]])
                feats = model.encode_image(x.to(device))
                feats = feats / feats.norm(dim=-1, keepdim=True)
                out.append(feats.float().cpu().numpy())
        return np.concatenate(out)

    return encode


def _compare(emb: ClipEmbedder, images: list, batch_size: int, repeats: int) -> dict[str, Any]:
    raw = _raw_encoder(emb.model, emb.preprocess, batch_size, emb.device)
    sides: dict[str, Callable[[list], np.ndarray]] = {
        "raw_open_clip": raw,
        "vega_lab": lambda ims: emb.encode_images(ims, batch_size=batch_size),
    }
    first = {name: fn(images) for name, fn in sides.items()}  # warm-up, untimed
    times: dict[str, list[float]] = {name: [] for name in sides}
    order = list(sides)
    for r in range(repeats):
        for name in order if r % 2 == 0 else order[::-1]:
            t0 = time.perf_counter()
            sides[name](images)
            times[name].append(time.perf_counter() - t0)
    rate = {name: len(images) / statistics.median(ts) for name, ts in times.items()}
    best = {name: len(images) / min(ts) for name, ts in times.items()}  # robust to a busy box
    return {
        "model": emb.name,
        "dim": emb.dim,
        "images_per_s": rate,
        "seconds": times,
        "overhead_pct": (rate["raw_open_clip"] / rate["vega_lab"] - 1) * 100,
        "overhead_pct_best": (best["raw_open_clip"] / best["vega_lab"] - 1) * 100,
        "max_abs_diff": float(np.abs(first["raw_open_clip"] - first["vega_lab"]).max()),
    }


def bench_clip(
    n_images: int = 256,
    batch_size: int = 64,
    repeats: int = 5,
    arch: str = "ViT-B-32",
    threads: int | None = None,
    device: str = "cpu",
) -> dict[str, Any]:
    """Images/s through ``encode_images`` vs raw open_clip, for ``arch`` and the tiny CLIP."""
    import open_clip
    import torch

    from vega_lab.multimodal.image.tiny_clip import ensure_tiny_clip, read_info

    with torch_threads(threads):
        rng = random.Random(0)
        images = [shapes.render_scene(rng).image for _ in range(n_images)]
        model, _, preprocess = open_clip.create_model_and_transforms(arch, device=device)
        big = ClipEmbedder(
            model, preprocess, open_clip.get_tokenizer(arch), f"clip:{arch}:random", device
        )
        folder = ensure_tiny_clip()
        tiny = load_clip(str(folder), device=device)
        results = {
            arch: _compare(big, images, batch_size, repeats),
            "tiny": _compare(tiny, images, batch_size, repeats),
        }
        info = read_info(folder)
    return {
        "n_images": n_images,
        "batch_size": batch_size,
        "repeats": repeats,
        "threads": threads or torch.get_num_threads(),  # restored: the caller's setting
        "device": device,
        "results": results,
        "overhead_pct": {name: r["overhead_pct"] for name, r in results.items()},
        "tiny_clip_accuracy": {
            k: v for k, v in info["metrics"].items() if k.endswith("accuracy") or k == "chance"
        },
        "tiny_clip_config": info["config"],
    }
