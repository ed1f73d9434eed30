"""Which kind of media a file is, by suffix: the one table the panel and the index share."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

__all__ = ["file_kind", "suffix_kinds"]


@lru_cache(maxsize=1)
def suffix_kinds() -> dict[str, str]:
    """suffix -> "image", "audio", "video" or "document" for every type vega_lab reads."""
    from vega_lab.multimodal.audio.io import AUDIO_SUFFIXES
    from vega_lab.multimodal.document.readers import DOCUMENT_SUFFIXES
    from vega_lab.multimodal.image.io import IMAGE_SUFFIXES
    from vega_lab.multimodal.video.probe import VIDEO_SUFFIXES

    out = {s: "audio" for s in AUDIO_SUFFIXES}
    out.update({s: "document" for s in DOCUMENT_SUFFIXES})
    out.update({s: "image" for s in IMAGE_SUFFIXES})
    out.update({s: "video" for s in VIDEO_SUFFIXES})
    return out


def file_kind(path: str | Path) -> str | None:
    """The kind of ``path`` by its suffix, or None for a type vega_lab does not read."""
    return suffix_kinds().get(Path(path).suffix.lower())
