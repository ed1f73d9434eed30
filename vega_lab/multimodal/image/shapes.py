"""Rendered shapes: the generated data the tiny CLIP and tiny YOLO learn from.

No pretrained CLIP or COCO YOLO weights ship offline, so the vision pipelines are trained and
measured on scenes this module draws: solid shapes of several colours on a textured background,
each with a caption ("a red circle") and a bounding box. Deterministic for a seed.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["COLORS", "SHAPES", "Scene", "ShapeBox", "caption", "render_scene", "split_pairs"]

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 170, 40),
    "blue": (30, 60, 220),
    "yellow": (235, 215, 20),
    "purple": (140, 40, 170),
    "orange": (245, 130, 20),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "star")


@dataclass(frozen=True)
class ShapeBox:
    """One drawn shape: its class names and its box in pixels (x0, y0, x1, y1)."""

    shape: str
    color: str
    box: tuple[int, int, int, int]


@dataclass(frozen=True)
class Scene:
    image: Image.Image
    objects: tuple[ShapeBox, ...]

    @property
    def caption(self) -> str:
        return caption(self.objects[0].color, self.objects[0].shape)


def caption(color: str, shape: str) -> str:
    return f"a photo of a {color} {shape}"


def split_pairs(
    holdout: int = 4, seed: int = 0
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(train, held-out) colour/shape pairs; every colour and shape still occurs in training.

    Zero-shot accuracy is measured on the held-out pairs: the model has seen "red" and "star"
    but never a red star, so it must compose the two concepts.
    """
    pairs = [(c, s) for c in COLORS for s in SHAPES]
    rng = random.Random(seed)
    for _ in range(1000):
        held = rng.sample(pairs, holdout)
        train = [p for p in pairs if p not in held]
        if {c for c, _ in train} == set(COLORS) and {s for _, s in train} == set(SHAPES):
            return train, held
    raise ValueError(f"cannot hold out {holdout} pairs and keep every colour and shape")


def _draw(draw: ImageDraw.ImageDraw, shape: str, box: tuple[int, int, int, int], fill) -> None:
    x0, y0, x1, y1 = box
    if shape == "circle":
        draw.ellipse(box, fill=fill)
    elif shape == "square":
        draw.rectangle(box, fill=fill)
    elif shape == "triangle":
        draw.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=fill)
    elif shape == "star":
        cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
        pts = []
        for k in range(10):
            rad = r if k % 2 == 0 else r * 0.45
            ang = np.pi / 2 + k * np.pi / 5
            pts.append((cx + rad * np.cos(ang), cy - rad * np.sin(ang)))
        draw.polygon(pts, fill=fill)
    else:
        raise ValueError(f"unknown shape {shape!r}; one of {SHAPES}")


def render_scene(
    rng: random.Random,
    size: int = 64,
    pairs: Sequence[tuple[str, str]] | None = None,
    n_objects: int = 1,
    min_frac: float = 0.25,
    max_frac: float = 0.6,
) -> Scene:
    """One image with ``n_objects`` non-overlapping shapes drawn from ``pairs`` (colour, shape)."""
    pairs = list(pairs or [(c, s) for c in COLORS for s in SHAPES])
    base = rng.randint(150, 250)
    noise = np.random.default_rng(rng.getrandbits(32)).integers(-12, 13, (size, size, 3))
    bg = np.clip(base + noise, 0, 255).astype(np.uint8)
    img = Image.fromarray(bg, "RGB")
    draw = ImageDraw.Draw(img)
    objects: list[ShapeBox] = []
    for _ in range(n_objects):
        for _attempt in range(50):
            side = rng.randint(int(size * min_frac), int(size * max_frac))
            x0, y0 = rng.randint(0, size - side), rng.randint(0, size - side)
            box = (x0, y0, x0 + side, y0 + side)
            if all(_disjoint(box, o.box) for o in objects):
                break
        else:
            break
        color, shape = pairs[rng.randrange(len(pairs))]
        jitter = tuple(int(np.clip(v + rng.randint(-20, 20), 0, 255)) for v in COLORS[color])
        _draw(draw, shape, box, jitter)
        objects.append(ShapeBox(shape, color, box))
    return Scene(img, tuple(objects))


def _disjoint(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1]


def write_scenes(folder: str | Path, n: int, seed: int = 0, **kw) -> list[Path]:
    """Render ``n`` scenes as PNG files (for folder-level tests and demos)."""
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    paths = []
    for i in range(n):
        scene = render_scene(rng, **kw)
        o = scene.objects[0]
        p = out / f"{i:04d}_{o.color}_{o.shape}.png"
        scene.image.save(p)
        paths.append(p)
    return paths


__all__ += ["write_scenes"]
