"""Image quality screening: blur (variance of the Laplacian), exposure and contrast.

Cheap, model-free checks that find the images a dataset is better without (motion-blurred,
out-of-focus, black or blown-out frames) before they cost labelling time or training signal.
The Laplacian responds to edges; a blurred image has few strong edges, so the variance of its
Laplacian is low (Pech-Pacheco et al., 2000). The score depends on resolution and content, so
images are first brought to a common size and the threshold should be calibrated per dataset
(look at the score histogram): the default 100 is the usual starting point for photos.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from vega_lab.errors import ImageError
from vega_lab.multimodal.batch import BatchResult, iter_files, process_files
from vega_lab.multimodal.image.io import IMAGE_SUFFIXES, load_image

__all__ = ["Quality", "assess_folder", "assess_quality", "blur_score", "exposure"]

# Luminance (0-255) at or below / at or above which a pixel counts as clipped.
DARK_LEVEL, BRIGHT_LEVEL = 8, 247


def _gray(img: Image.Image, max_side: int | None) -> np.ndarray:
    """Float luminance (ITU-R 601, via Pillow's "L"), downscaled so the longest side <= max_side."""
    gray = img.convert("L")
    if max_side is not None and max(gray.size) > max_side:
        scale = max_side / max(gray.size)
        size = (max(1, round(gray.width * scale)), max(1, round(gray.height * scale)))
        gray = gray.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(gray, dtype=np.float64)


def blur_score(img: Image.Image, *, max_side: int | None = 1024) -> float:
    """Variance of the 4-neighbour Laplacian of the luminance: low means blurry.

    Computed on a copy at most ``max_side`` pixels on its longest side (never upscaled), so
    a 24 MP photo and its 1 MP copy get comparable scores; ``None`` uses full resolution.
    """
    g = _gray(img, max_side)
    if min(g.shape) < 3:
        raise ImageError(
            f"image of {g.shape[1]}x{g.shape[0]} is too small for a blur score",
            "use images of at least 3x3 pixels",
        )
    lap = g[:-2, 1:-1] + g[2:, 1:-1] + g[1:-1, :-2] + g[1:-1, 2:] - 4.0 * g[1:-1, 1:-1]
    return float(lap.var())


def exposure(
    img: Image.Image, *, under: float = 0.25, over: float = 0.75, clipped: float = 0.5
) -> dict[str, float | str]:
    """Mean luminance (0-1), clipped fractions and a label "under", "ok" or "over".

    "under" when the mean luminance is below ``under`` or more than ``clipped`` of the pixels
    are crushed to black; "over" symmetrically. Thresholds are parameters since a dataset of
    night scenes or snow fields has its own normal.
    """
    g = _gray(img, 1024)
    mean = float(g.mean()) / 255.0
    dark = float((g <= DARK_LEVEL).mean())
    bright = float((g >= BRIGHT_LEVEL).mean())
    if mean < under or dark > clipped:
        label = "under"
    elif mean > over or bright > clipped:
        label = "over"
    else:
        label = "ok"
    return {
        "mean_luminance": mean,
        "dark_fraction": dark,
        "bright_fraction": bright,
        "contrast": float(g.std()) / 255.0,
        "label": label,
    }


@dataclass(frozen=True)
class Quality:
    """Quality figures for one image; ``contrast`` is the luminance std (0-0.5)."""

    blur_score: float
    is_blurry: bool
    mean_luminance: float
    dark_fraction: float
    bright_fraction: float
    exposure: str
    contrast: float

    def as_dict(self) -> dict[str, float | bool | str]:
        return asdict(self)


def assess_quality(
    image: str | Path | Image.Image, *, blur_threshold: float = 100.0, max_side: int | None = 1024
) -> Quality:
    """Blur, exposure and contrast of an image or file (files are validated by ``load_image``)."""
    img = image if isinstance(image, Image.Image) else load_image(image)
    score = blur_score(img, max_side=max_side)
    exp = exposure(img)
    return Quality(
        blur_score=score,
        is_blurry=score < blur_threshold,
        mean_luminance=float(exp["mean_luminance"]),
        dark_fraction=float(exp["dark_fraction"]),
        bright_fraction=float(exp["bright_fraction"]),
        exposure=str(exp["label"]),
        contrast=float(exp["contrast"]),
    )


def assess_folder(folder: str | Path, *, blur_threshold: float = 100.0) -> BatchResult[Quality]:
    """``assess_quality`` for every image under ``folder``; bad files are skipped, with why."""
    paths = iter_files(folder, IMAGE_SUFFIXES)
    return process_files(paths, lambda p: assess_quality(p, blur_threshold=blur_threshold))
