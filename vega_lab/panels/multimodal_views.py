"""What the multimodal panel shows, as plain HTML/PNG builders (no widget state here).

Kept apart from the panel so each view can be checked on its own and reused by the Voila
search dashboard; every string that came from a file is HTML-escaped.
"""

from __future__ import annotations

import html
import io
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from PIL import Image

__all__ = ["gallery_html", "hits_html", "kv_table", "png_bytes", "rows_table", "thumb"]


def png_bytes(img: Image.Image, max_side: int | None = 512) -> bytes:
    """A PNG of ``img`` no larger than ``max_side`` (widgets ship bytes to the browser)."""
    if max_side and max(img.size) > max_side:
        img = img.copy()
        img.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    img.convert("RGB" if img.mode not in ("RGB", "RGBA", "L") else img.mode).save(buf, "PNG")
    return buf.getvalue()


def thumb(path: str | Path, size: int = 128) -> bytes | None:
    """A small PNG of an image file, or None when it cannot be read (the gallery skips it)."""
    from vega_lab.errors import VegaError
    from vega_lab.multimodal.image.io import load_image

    try:
        return png_bytes(load_image(path), size)
    except (VegaError, OSError):
        return None


def kv_table(data: Mapping[str, Any], empty: str = "nothing to show") -> str:
    """A two-column HTML table of names and values."""
    if not data:
        return f"<i>{html.escape(empty)}</i>"
    rows = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(str(k))}</th>"
        f"<td>{html.escape(_short(v))}</td></tr>"
        for k, v in data.items()
    )
    return f"<table class='vega-kv'>{rows}</table>"


def rows_table(rows: Sequence[Sequence[Any]], max_rows: int = 30) -> str:
    """An HTML table of rows (the first row is the header), cut at ``max_rows``."""
    if not rows:
        return "<i>empty table</i>"
    head = "".join(f"<th>{html.escape(_short(c))}</th>" for c in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_short(c))}</td>" for c in row) + "</tr>"
        for row in rows[1:max_rows]
    )
    more = f"<caption>{len(rows) - max_rows} more rows</caption>" if len(rows) > max_rows else ""
    return f"<table class='vega-table' border='1'>{more}<tr>{head}</tr>{body}</table>"


def hits_html(hits: Iterable[Any]) -> str:
    """Search hits as a numbered list: score, modality, place and snippet."""
    items = [
        f"<li><code>{h.score:.3f}</code> <b>[{html.escape(h.modality)}]</b> "
        f"{html.escape(h.where)}: {html.escape(h.snippet[:160])}</li>"
        for h in hits
    ]
    return f"<ol class='vega-hits'>{''.join(items)}</ol>" if items else "<i>no results</i>"


def gallery_html(hits: Iterable[Any], size: int = 128) -> str:
    """Image and video-scene hits as inline thumbnails (data URIs: no file server needed)."""
    import base64

    tiles = []
    for h in hits:
        if h.modality not in ("image", "video"):
            continue
        # The thumbnail the index kept (a scene's frame, a small copy of an image); an image
        # whose thumbnail is gone falls back to its own file.
        data = thumb(h.item.thumbnail, size) if h.item.thumbnail else None
        if data is None and h.modality == "image":
            data = thumb(h.source, size)
        if data is None:
            continue
        uri = "data:image/png;base64," + base64.b64encode(data).decode()
        tiles.append(
            f"<figure class='vega-tile' style='display:inline-block;margin:4px'>"
            f"<img src='{uri}' width='{size}'/><figcaption>{html.escape(h.where)} "
            f"<code>{h.score:.2f}</code></figcaption></figure>"
        )
    return f"<div class='vega-gallery'>{''.join(tiles)}</div>" if tiles else ""


def _short(v: Any, limit: int = 120) -> str:
    text = str(v)
    return text if len(text) <= limit else text[: limit - 1] + "…"
