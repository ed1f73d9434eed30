"""Frames laid out as one image: a strip for a row of a table, a contact sheet for a notebook.

One image per video keeps a notebook or report light (a single PNG instead of a video
player) and lets a whole clip be judged at a glance.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

from vega_lab.errors import VideoError
from vega_lab.multimodal.video.frames import Frame

__all__ = ["contact_sheet", "thumbnail_strip"]

BACKGROUND = (24, 24, 24)


def _images(frames: Sequence[Frame | Image.Image]) -> list[tuple[Image.Image, float | None]]:
    if not frames:
        raise VideoError("no frames to lay out", "sample some first, e.g. sample_uniform(path)")
    out = []
    for f in frames:
        if isinstance(f, Frame):
            out.append((f.image, f.time_s))
        elif isinstance(f, Image.Image):
            out.append((f, None))
        else:
            raise VideoError(f"cannot lay out a {type(f).__name__}", "pass Frames or PIL images")
    return out


def _fit(image: Image.Image, width: int, height: int) -> Image.Image:
    """``image`` scaled to fit ``width`` x ``height``, centred on the background."""
    scale = min(width / image.width, height / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    tile = Image.new("RGB", (width, height), BACKGROUND)
    tile.paste(
        image.convert("RGB").resize(size, Image.Resampling.LANCZOS),
        ((width - size[0]) // 2, (height - size[1]) // 2),
    )
    return tile


def _timestamp(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    return f"{int(minutes):02d}:{secs:04.1f}"


def thumbnail_strip(
    frames: Sequence[Frame | Image.Image], height: int = 90, gap: int = 2
) -> Image.Image:
    """The frames side by side at a common ``height`` (aspect ratio kept)."""
    images = [img for img, _ in _images(frames)]
    widths = [max(1, round(img.width * height / img.height)) for img in images]
    strip = Image.new("RGB", (sum(widths) + gap * (len(images) - 1), height), BACKGROUND)
    x = 0
    for img, w in zip(images, widths, strict=True):
        strip.paste(img.convert("RGB").resize((w, height), Image.Resampling.LANCZOS), (x, 0))
        x += w + gap
    return strip


def contact_sheet(
    frames: Sequence[Frame | Image.Image],
    cols: int = 4,
    *,
    tile_width: int = 160,
    gap: int = 4,
    label: bool = True,
) -> Image.Image:
    """A grid of ``cols`` columns; each tile keeps its aspect ratio and, for Frames, shows the
    timestamp (mm:ss.s) in its corner."""
    if cols < 1:
        raise VideoError(f"cols must be >= 1, got {cols}", "use cols=4")
    items = _images(frames)
    first = items[0][0]
    tile_height = max(1, round(tile_width * first.height / first.width))
    cols = min(cols, len(items))
    rows = -(-len(items) // cols)
    sheet = Image.new(
        "RGB",
        (cols * tile_width + (cols + 1) * gap, rows * tile_height + (rows + 1) * gap),
        BACKGROUND,
    )
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for k, (img, time_s) in enumerate(items):
        x = gap + (k % cols) * (tile_width + gap)
        y = gap + (k // cols) * (tile_height + gap)
        sheet.paste(_fit(img, tile_width, tile_height), (x, y))
        if label and time_s is not None:
            text = _timestamp(time_s)
            box = draw.textbbox((x + 3, y + 2), text, font=font)
            draw.rectangle((box[0] - 2, box[1] - 1, box[2] + 2, box[3] + 1), fill=(0, 0, 0))
            draw.text((x + 3, y + 2), text, fill=(255, 255, 255), font=font)
    return sheet
