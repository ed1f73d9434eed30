"""Loading images safely: content-sniffed formats, a pixel budget, truncation checks, orientation.

A folder of images collected "in the wild" contains files that lie: a text file named ``.png``,
a JPEG cut off by an interrupted copy, a 30000 x 30000 PNG that is 50 KB on disk but 900 MB in
memory. Pillow, used naively, trusts the suffix only for saving, decodes lazily (so truncation
shows up later, deep in a pipeline), warns rather than fails on oversized images, and ignores
the EXIF orientation that every phone photo relies on. ``load_image`` does all checks up front
and raises one ``ImageError`` that names the file, the problem and the fix.
"""

from __future__ import annotations

import os
import re
import struct
import tempfile
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from vega_lab.errors import ImageError
from vega_lab.multimodal.batch import BatchResult, iter_files, process_files

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "SUPPORTED_FORMATS",
    "TIFF_STRUCTURE_TAGS",
    "ImageInfo",
    "as_rgb",
    "inspect_image",
    "load_folder",
    "load_image",
    "open_checked",
    "resize",
    "save_image",
    "thumbnail",
]

IMAGE_SUFFIXES: frozenset[str] = frozenset(
    {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif"}
)
# Pillow's format names, detected from the bytes. MPO is a JPEG with extra pictures appended
# (phones write it for previews and depth maps): its primary picture is an ordinary JPEG.
SUPPORTED_FORMATS: frozenset[str] = frozenset({"JPEG", "MPO", "PNG", "TIFF", "WEBP", "BMP", "GIF"})
# 80 megapixels: about 240 MB decoded as RGB, beyond almost any camera. Larger files are far more
# often bombs or scans that need tiling. Kept under Pillow's own warning threshold (89.5 MP) so
# the default path never has to touch Pillow's process-wide limit.
DEFAULT_MAX_PIXELS = 80_000_000

# Baseline TIFF tags that describe the pixel layout, not the picture: Pillow lists them in
# ``getexif()`` of every TIFF, so they do not make a file "have EXIF".
TIFF_STRUCTURE_TAGS: frozenset[int] = frozenset(
    {254, 256, 257, 258, 259, 262, 266, 273, 277, 278, 279, 282, 283, 284, 296, 317, 320, 338, 339}
    | {322, 323, 324, 325, 530, 531, 532}
)
_SAVE_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}
_PIL_GLOBALS = threading.Lock()


@dataclass(frozen=True)
class ImageInfo:
    """What a file holds, as displayed (width/height after EXIF orientation)."""

    path: Path
    format: str
    width: int
    height: int
    mode: str
    n_frames: int
    bytes: int
    has_exif: bool
    orientation: int = 1

    @property
    def pixels(self) -> int:
        return self.width * self.height


@contextmanager
def _pil_limits(max_pixels: int) -> Iterator[None]:
    """Make Pillow's own globals agree with our checks, only when they would not.

    Pillow reads ``MAX_IMAGE_PIXELS`` inside ``Image.open`` (warning above it, failing above
    twice it) and ``LOAD_TRUNCATED_IMAGES`` inside ``load``. A caller who raised ``max_pixels``
    must not be refused (or warned) by Pillow, and another library that set
    ``LOAD_TRUNCATED_IMAGES = True`` must not switch off our truncation check. Both are process
    globals: they are changed under a lock, and only in those two cases, so the default path
    takes no lock and decoding stays parallel across threads.
    """
    pil_max = Image.MAX_IMAGE_PIXELS
    if not ((pil_max is not None and max_pixels > pil_max) or ImageFile.LOAD_TRUNCATED_IMAGES):
        yield
        return
    with _PIL_GLOBALS:
        old_max, old_trunc = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
        Image.MAX_IMAGE_PIXELS = max(max_pixels, old_max or 0) if old_max is not None else None
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES = old_max, old_trunc


def _bomb_error(path: Path, pixels: int | None, limit: int) -> ImageError:
    count = f"{pixels:,} pixels" if pixels is not None else "too many pixels"
    suggested = pixels if pixels is not None else 4 * limit
    return ImageError(
        f"{path}: image has {count}, more than the pixel limit of {limit:,} (max_pixels); "
        "it could be a decompression bomb",
        f"if the file is trusted, pass max_pixels={suggested:_} or more",
    )


def _pil_bomb_error(path: Path, exc: Exception, limit: int) -> ImageError:
    """Translate Pillow's own bomb error, recovering the pixel count from its message."""
    found = re.search(r"\((\d+) pixels\)", str(exc))
    return _bomb_error(path, int(found.group(1)) if found else None, limit)


def _describe_non_image(path: Path) -> str:
    with path.open("rb") as fh:
        head = fh.read(512)
    text = head.decode("utf-8", errors="ignore")
    printable = sum(ch.isprintable() or ch.isspace() for ch in text)
    if b"\x00" not in head and text and printable >= 0.95 * len(text):
        return "it looks like a text file, not an image"
    return "its content is not a known image format"


def _check_file(path: Path) -> None:
    if not path.exists():
        raise ImageError(f"{path} does not exist", "check the path")
    if not path.is_file():
        raise ImageError(f"{path} is not a file", "give the path of an image file")
    if path.stat().st_size == 0:
        raise ImageError(f"{path} is empty (0 bytes)", "re-copy or re-download the file")


def _open(path: Path, max_pixels: int) -> Image.Image:
    """Open lazily (header only) and check format and pixel count before anything is decoded."""
    try:
        with warnings.catch_warnings():  # above our limit we raise; no warning besides
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            im = Image.open(path)
    except Image.DecompressionBombError as exc:
        raise _pil_bomb_error(path, exc, max_pixels) from exc
    except UnidentifiedImageError as exc:
        raise ImageError(
            f"{path} cannot be read as an image: {_describe_non_image(path)}",
            f"supported formats are {', '.join(sorted(SUPPORTED_FORMATS - {'MPO'}))}",
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: image header is corrupt ({exc})", "re-export the file") from exc
    if im.format not in SUPPORTED_FORMATS:
        fmt = im.format
        im.close()
        raise ImageError(
            f"{path} is in {fmt} format, which is not supported",
            f"convert it to one of {', '.join(sorted(SUPPORTED_FORMATS - {'MPO'}))}",
        )
    width, height = im.size
    if width * height > max_pixels:
        im.close()
        raise _bomb_error(path, width * height, max_pixels)
    if width == 0 or height == 0:
        im.close()
        raise ImageError(f"{path} has no pixels ({width}x{height})", "re-export the file")
    return im


def open_checked(
    path: str | Path, *, max_pixels: int | None = None, decode: bool = True
) -> Image.Image:
    """Open ``path`` as Pillow does, after every check of ``load_image``; no conversion.

    With ``decode`` the pixel data is verified and fully decoded (so a truncated file fails here,
    not later); the image keeps its metadata (``info``, ``getexif()``) and, for animations,
    stays seekable. For modules that need the raw image (EXIF scrubbing, inspection).
    """
    path = Path(path)
    limit = DEFAULT_MAX_PIXELS if max_pixels is None else int(max_pixels)
    _check_file(path)
    with _pil_limits(limit):
        im = _open(path, limit)
        if not decode:
            return im
        try:
            im.verify()  # structure and checksums (PNG CRCs) without keeping pixels
            im.close()
            im = Image.open(path)
            im.load()  # full decode: raises on missing data since LOAD_TRUNCATED_IMAGES=False
            n_frames = int(getattr(im, "n_frames", 1))
            if n_frames > 1:  # a cut animation is only noticed by decoding its last frames
                for i in range(1, n_frames):
                    im.seek(i)
                    im.load()
                im.seek(0)
                im.load()
        except Image.DecompressionBombError as exc:
            im.close()
            raise _pil_bomb_error(path, exc, limit) from exc
        except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
            im.close()
            raise ImageError(
                f"{path}: image data is truncated or corrupt ({exc})",
                "re-copy the file from its source; a partial download or copy truncates it",
            ) from exc
    return im


def _to_mode(im: Image.Image, mode: str | None) -> Image.Image:
    """Convert, flattening transparency onto white (not black) when dropping alpha."""
    if mode is None or im.mode == mode:
        return im
    has_alpha = im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info
    if has_alpha and mode in ("RGB", "L"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert(mode)
    return im.convert(mode)


def load_image(
    path: str | Path, *, max_pixels: int | None = None, mode: str | None = "RGB"
) -> Image.Image:
    """Load a validated, fully decoded image, upright (EXIF orientation applied), in ``mode``.

    Animated files (GIF, WEBP, multi-page TIFF) give their first frame; ``img.info["n_frames"]``
    records how many there are. ``mode=None`` keeps the stored mode. Raises ``ImageError`` for a
    missing, empty, non-image, unsupported, oversized (``max_pixels``, default 80 MP) or
    truncated file.
    """
    im = open_checked(path, max_pixels=max_pixels, decode=True)  # left on its first frame
    n_frames = int(getattr(im, "n_frames", 1))
    try:
        upright = ImageOps.exif_transpose(im)
        out = _to_mode(upright, mode)
        out.load()
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"{path}: cannot decode image ({exc})", "re-export the file") from exc
    if out is im:
        out = im.copy()  # detach from the file handle
    im.close()
    out.info["n_frames"] = n_frames
    return out


def as_rgb(item: object, action: str) -> Image.Image:
    """``item`` as an RGB image: a PIL image as is (converted if needed), a path through
    ``load_image``; anything else is an ``ImageError`` saying "cannot {action} a <type>"."""
    if isinstance(item, Image.Image):
        return item if item.mode == "RGB" else item.convert("RGB")
    if isinstance(item, (str, Path)):
        return load_image(item)  # validated, upright, RGB; ImageError names the file
    raise ImageError(
        f"cannot {action} a {type(item).__name__}", "pass PIL images or image file paths"
    )


def inspect_image(
    path: str | Path, *, max_pixels: int | None = None, decode: bool = True
) -> ImageInfo:
    """Describe a file. With ``decode`` (default) it is also fully validated like ``load_image``;
    ``decode=False`` reads only the header (fast, but a truncated file is not noticed)."""
    path = Path(path)
    im = open_checked(path, max_pixels=max_pixels, decode=decode)
    try:
        try:
            exif = im.getexif()  # PNG keeps it after the pixel data: may read to the end
            n_frames = int(getattr(im, "n_frames", 1))  # GIF: walks every frame header
        except (OSError, SyntaxError, ValueError, struct.error) as exc:
            raise ImageError(
                f"{path}: image data is truncated or corrupt ({exc})",
                "re-copy the file from its source; a partial download or copy truncates it",
            ) from exc
        orientation = int(exif.get(0x0112, 1) or 1)
        width, height = im.size
        if orientation in (5, 6, 7, 8):  # rotated by 90 degrees when displayed
            width, height = height, width
        return ImageInfo(
            path=path,
            format="JPEG" if im.format == "MPO" else str(im.format),
            width=width,
            height=height,
            mode=im.mode,
            n_frames=n_frames,
            bytes=path.stat().st_size,
            has_exif=any(tag not in TIFF_STRUCTURE_TAGS for tag in exif),
            orientation=orientation,
        )
    finally:
        im.close()


def resize(
    img: Image.Image,
    size: int | tuple[int, int],
    *,
    keep_aspect: bool = True,
    resample: Image.Resampling = Image.Resampling.LANCZOS,
) -> Image.Image:
    """A resized copy. ``size`` as an int is the longest side; as ``(w, h)`` it is a box the
    image fits in (``keep_aspect``) or the exact size (``keep_aspect=False``)."""
    w, h = img.size
    if isinstance(size, int):
        if size <= 0:
            raise ImageError(
                f"size must be positive, got {size}", "give the longest side in pixels"
            )
        box = (size, size)
    else:
        box = (int(size[0]), int(size[1]))
        if min(box) <= 0:
            raise ImageError(f"size must be positive, got {size}", "give (width, height) in pixels")
    if not keep_aspect and not isinstance(size, int):
        target = box
    else:
        scale = min(box[0] / w, box[1] / h)
        target = (max(1, round(w * scale)), max(1, round(h * scale)))
    return img.resize(target, resample)


def save_image(img: Image.Image, out: str | Path, **params) -> Path:
    """Write ``img`` atomically (a temp file renamed into place: no half-written file is left).

    The format follows the suffix (JPEG, PNG or WEBP); alpha is flattened for JPEG.
    """
    out = Path(out)
    fmt = _SAVE_FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise ImageError(
            f"cannot write {out.name}: unknown output suffix {out.suffix!r}",
            f"use one of {', '.join(sorted(_SAVE_FORMATS))}",
        )
    if fmt == "JPEG":
        img = _to_mode(img, "RGB") if img.mode not in ("RGB", "L") else img
        params.setdefault("quality", 90)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.stem}.", suffix=out.suffix, dir=out.parent)
    os.close(fd)
    try:
        img.save(tmp, format=fmt, **params)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out


def thumbnail(
    src: str | Path | Image.Image, size: int = 256, out: str | Path | None = None
) -> Image.Image:
    """A thumbnail whose longest side is at most ``size`` (never upscaled); written to ``out``
    (JPEG, PNG or WEBP by suffix) if given. The source file is never overwritten."""
    if isinstance(src, Image.Image):
        img = src.copy()
    else:
        src = Path(src)
        if out is not None and Path(out).resolve() == src.resolve():
            raise ImageError(
                f"refusing to overwrite the source {src} with its thumbnail",
                "pick another out path",
            )
        img = load_image(src, mode=None)
    if size <= 0:
        raise ImageError(f"size must be positive, got {size}", "give the longest side in pixels")
    img.thumbnail((size, size), Image.Resampling.LANCZOS)
    if out is not None:
        save_image(img, out)
    return img


def load_folder(folder: str | Path, *, max_pixels: int | None = None) -> BatchResult[ImageInfo]:
    """Validate every image file (by suffix) under ``folder``; bad ones are skipped, with why."""
    paths = iter_files(folder, IMAGE_SUFFIXES)
    return process_files(paths, lambda p: inspect_image(p, max_pixels=max_pixels))
