"""EXIF reading and privacy scrubbing that proves its result.

Photos leak: GPS coordinates of a home, the serial number of a camera that links photos across
datasets, the owner's name in Artist/Copyright/XPAuthor, free text in PNG chunks and XMP, and an
EXIF thumbnail that can still show what a crop removed. Before images leave a lab (a shared
dataset, a paper's figure) ``scrub_exif`` writes a clean copy by re-encoding the pixels alone,
never touching the original, then re-reads the copy and lists what was removed; if any private
field survived it deletes the copy and raises instead of handing back a false sense of safety.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image
from PIL.TiffImagePlugin import IFDRational

from vega_lab.errors import ImageError
from vega_lab.multimodal.batch import BatchResult, iter_files, process_files
from vega_lab.multimodal.image.io import IMAGE_SUFFIXES, TIFF_STRUCTURE_TAGS, open_checked

__all__ = [
    "PRIVATE_GROUPS",
    "PRIVATE_TAGS",
    "ScrubReport",
    "metadata_fields",
    "read_exif",
    "scrub_exif",
    "scrub_folder",
]

PRIVATE_TAGS: dict[str, frozenset[str]] = {
    "gps": frozenset(ExifTags.GPSTAGS.values()),  # the whole GPS IFD
    "device": frozenset(
        {"Make", "Model", "BodySerialNumber", "CameraSerialNumber", "LensMake", "LensModel"}
        | {"LensSerialNumber", "Software", "HostComputer", "MakerNote", "ImageUniqueID"}
    ),
    "owner": frozenset(
        {"Artist", "Copyright", "CameraOwnerName", "ImageDescription", "UserComment"}
        | {"XPAuthor", "XPComment", "XPSubject", "XPTitle", "XPKeywords", "DocumentName"}
    ),
    "datetime": frozenset(
        {"DateTime", "DateTimeOriginal", "DateTimeDigitized", "OffsetTime", "OffsetTimeOriginal"}
        | {"OffsetTimeDigitized", "SubsecTime", "SubsecTimeOriginal", "SubsecTimeDigitized"}
    ),
}
# "embedded": free-form metadata outside EXIF (PNG text chunks, XMP, IPTC, comments) and the
# EXIF thumbnail; always treated as private since anything can be written there.
PRIVATE_GROUPS: tuple[str, ...] = (*PRIVATE_TAGS, "embedded")

_POINTERS = {int(ExifTags.IFD.Exif), int(ExifTags.IFD.GPSInfo), int(ExifTags.IFD.Interop)}
_INFO_METADATA = {
    "comment": "comment",
    "xmp": "XMP",
    "XML:com.adobe.xmp": "XMP",
    "photoshop": "IPTC/Photoshop",
    "iptc": "IPTC",
}
_TIFF_METADATA = {700: "XMP", 33723: "IPTC", 34377: "IPTC/Photoshop"}
_TRANSPOSE = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_TIFF_COMPRESSIONS = {"raw", "tiff_lzw", "tiff_deflate", "tiff_adobe_deflate", "packbits"}


def _clean_value(name: str, value: Any) -> Any:
    """EXIF values as plain Python: rationals to floats, byte strings to text where they are."""
    if isinstance(value, IFDRational):
        return float(value) if value.denominator else None
    if isinstance(value, tuple):
        return tuple(_clean_value(name, v) for v in value)
    if isinstance(value, bytes):
        if name.startswith("XP"):  # Windows tags: UTF-16LE
            return value.decode("utf-16-le", errors="replace").rstrip("\x00")
        if name == "UserComment" and len(value) >= 8:  # 8-byte charset prefix
            charset, body = value[:8].rstrip(b"\x00 "), value[8:]
            codec = "utf-16" if charset == b"UNICODE" else "latin-1"
            return body.decode(codec, errors="replace").rstrip("\x00 ")
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            return value
        return text.rstrip("\x00") if text.rstrip("\x00").isprintable() else value
    if isinstance(value, str):
        return value.rstrip("\x00").strip()
    return value


def _named_tags(im: Image.Image) -> tuple[dict[str, Any], dict[str, Any], bool]:
    """(main + Exif IFD tags, GPS IFD tags, has EXIF thumbnail), by human name."""
    exif = im.getexif()
    tags: dict[str, Any] = {}
    for tag, value in exif.items():
        if tag in _POINTERS or (im.format == "TIFF" and tag in TIFF_STRUCTURE_TAGS):
            continue
        name = ExifTags.TAGS.get(tag, f"Tag0x{tag:04X}")
        tags[name] = _clean_value(name, value)
    try:
        for tag, value in exif.get_ifd(ExifTags.IFD.Exif).items():
            name = ExifTags.TAGS.get(tag, f"Tag0x{tag:04X}")
            tags[name] = _clean_value(name, value)
        gps_ifd = exif.get_ifd(ExifTags.IFD.GPSInfo)
        thumb = bool(exif.get_ifd(ExifTags.IFD.IFD1))
    except (OSError, ValueError, KeyError, SyntaxError, TypeError) as exc:
        raise ImageError(f"EXIF block is corrupt ({exc})", "scrub the file to drop it") from exc
    gps = {ExifTags.GPSTAGS.get(t, f"GPSTag0x{t:04X}"): v for t, v in gps_ifd.items()}
    gps = {k: _clean_value(k, v) for k, v in gps.items()}
    if int(ExifTags.IFD.GPSInfo) in exif and not gps:
        gps["GPSInfo"] = "(unreadable GPS block)"
    return tags, gps, thumb


def _degrees(dms: Any, ref: Any, negative: str) -> float | None:
    try:
        d, m, s = (float(x) for x in dms)
    except (TypeError, ValueError):
        return None
    value = d + m / 60 + s / 3600
    return -value if str(ref).upper().startswith(negative) else value


def read_exif(path: str | Path) -> dict[str, Any]:
    """EXIF tags by name (main, Exif and GPS IFDs); GPS position also as decimal degrees.

    ``latitude``/``longitude`` (negative south/west) and ``altitude`` (metres, negative below
    sea level) are added when the GPS block has them. Only the header is read, not the pixels.
    """
    path = Path(path)
    im = open_checked(path, decode=False)
    try:
        tags, gps, _ = _named_tags(im)
    except ImageError as exc:
        raise ImageError(f"{path}: {exc.what}", exc.hint) from exc
    finally:
        im.close()
    out = {**tags, **gps}
    if "GPSLatitude" in gps and "GPSLongitude" in gps:
        lat = _degrees(gps["GPSLatitude"], gps.get("GPSLatitudeRef", "N"), "S")
        lon = _degrees(gps["GPSLongitude"], gps.get("GPSLongitudeRef", "E"), "W")
        if lat is not None and lon is not None:
            out["latitude"], out["longitude"] = lat, lon
    if isinstance(gps.get("GPSAltitude"), float):
        below = gps.get("GPSAltitudeRef") in (1, b"\x01")
        out["altitude"] = -gps["GPSAltitude"] if below else gps["GPSAltitude"]
    return out


def _group(name: str) -> str:
    for group, names in PRIVATE_TAGS.items():
        if name in names:
            return group
    return "other"


def _fields(im: Image.Image) -> set[str]:
    tags, gps, thumb = _named_tags(im)
    found = {f"{_group(n)}:{n}" for n in tags} | {f"gps:{n}" for n in gps}
    if thumb:
        found.add("embedded:EXIF thumbnail")
    for key, label in _INFO_METADATA.items():
        if im.info.get(key):
            found.add(f"embedded:{label}")
    if im.format == "PNG":
        text = getattr(im, "text", {}) or {}
        found |= {f"embedded:PNG text {k}" for k in text if k != "XML:com.adobe.xmp"}
    if im.format == "TIFF":
        found |= {f"embedded:{label}" for t, label in _TIFF_METADATA.items() if t in im.tag_v2}
    if im.info.get("icc_profile"):
        found.add("icc:ICC profile")
    return found


def metadata_fields(path: str | Path) -> list[str]:
    """Every metadata field of a file as ``"group:Name"``, sorted.

    Groups: ``gps``, ``device``, ``owner``, ``datetime``, ``embedded`` (private, see
    ``PRIVATE_GROUPS``), ``other`` (harmless EXIF such as ExposureTime) and ``icc``.
    """
    path = Path(path)
    im = open_checked(path, decode=False)
    try:
        return sorted(_fields(im))
    except ImageError as exc:
        raise ImageError(f"{path}: {exc.what}", exc.hint) from exc
    finally:
        im.close()


@dataclass(frozen=True)
class ScrubReport:
    """What scrubbing removed, proven by re-reading the clean copy."""

    src: Path
    dst: Path
    removed: list[str]
    remaining_private: list[str]
    ok: bool
    kept: list[str] = field(default_factory=list)


def _fresh(frame: Image.Image) -> Image.Image:
    """The pixels (and palette/transparency) of ``frame`` in a new image with no metadata."""
    frame.load()
    clean = Image.frombytes(frame.mode, frame.size, frame.tobytes())
    if frame.mode in ("P", "PA") and frame.palette is not None:
        clean.putpalette(frame.getpalette(frame.palette.mode), frame.palette.mode)
    if "transparency" in frame.info:
        clean.info["transparency"] = frame.info["transparency"]
    return clean


def _frames(im: Image.Image, keep_orientation: bool) -> tuple[list[Image.Image], list[int]]:
    method = _TRANSPOSE.get(int(im.getexif().get(0x0112, 1) or 1)) if keep_orientation else None
    frames, durations = [], []
    for i in range(int(getattr(im, "n_frames", 1))):
        im.seek(i)
        clean = _fresh(im)
        frames.append(clean.transpose(method) if method is not None else clean)
        durations.append(int(im.info.get("duration", 100) or 100))
    return frames, durations


def _save_clean(
    im: Image.Image, frames: list[Image.Image], durations: list[int], out: Path, icc: bytes | None
) -> None:
    fmt = "JPEG" if im.format == "MPO" else str(im.format)
    params: dict[str, Any] = {}
    if icc:
        params["icc_profile"] = icc
    if fmt == "JPEG":
        from PIL import JpegImagePlugin

        sampling = JpegImagePlugin.get_sampling(im) if im.format == "JPEG" else -1
        params.update(quality=95, **({"subsampling": sampling} if sampling >= 0 else {}))
        frames = frames[:1]  # MPO extras (previews, depth maps) are dropped
    elif fmt == "WEBP":
        params.update(quality=95)
    elif fmt == "TIFF":
        comp = im.info.get("compression", "raw")
        params.update(compression=comp if comp in _TIFF_COMPRESSIONS else "tiff_lzw")
    if len(frames) > 1 and fmt in ("GIF", "WEBP", "TIFF"):
        params.update(save_all=True, append_images=frames[1:])
        if fmt in ("GIF", "WEBP"):
            params.update(duration=durations, loop=int(im.info.get("loop", 0) or 0))
    frames[0].save(out, format=fmt, **params)


def _default_dst(src: Path) -> Path:
    return src.with_name(f"{src.stem}.scrubbed{src.suffix}")


def scrub_exif(
    src: str | Path,
    dst: str | Path | None = None,
    *,
    keep_orientation: bool = True,
    keep_icc: bool = True,
    max_pixels: int | None = None,
) -> ScrubReport:
    """Write a metadata-free copy of ``src`` (default ``name.scrubbed.ext``) and prove it.

    The pixels are re-encoded into a new file of the same format (JPEG at quality 95 with the
    source's chroma subsampling), so EXIF, GPS, XMP, IPTC, comments, PNG text chunks and the
    EXIF thumbnail cannot survive. ``keep_orientation`` bakes the EXIF rotation into the pixels
    so the copy still displays upright. ``keep_icc`` keeps the colour profile (needed for correct
    colours, and not personal). Every frame of an animation is kept. The original is never
    modified. Raises ``ImageError`` (and leaves no copy) if a private field remains.
    """
    src = Path(src)
    dst = _default_dst(src) if dst is None else Path(dst)
    if dst.resolve() == src.resolve():
        raise ImageError(f"refusing to overwrite the original {src}", "give another dst path")
    before = set(metadata_fields(src))  # from the header: decoding a TIFF drops its Orientation
    im = open_checked(src, max_pixels=max_pixels, decode=True)
    try:
        icc = im.info.get("icc_profile") if keep_icc else None
        frames, durations = _frames(im, keep_orientation)
        dst.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.stem}.", suffix=dst.suffix, dir=dst.parent)
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            _save_clean(im, frames, durations, tmp, icc)
            after = set(metadata_fields(tmp))
            remaining = sorted(f for f in after if f.split(":", 1)[0] in PRIVATE_GROUPS)
            if remaining:
                raise ImageError(
                    f"{src}: scrubbed copy still holds private fields {remaining}",
                    "this is a bug in vega_lab; do not share the file",
                )
            os.replace(tmp, dst)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except (OSError, ValueError) as exc:
        if isinstance(exc, ImageError):
            raise
        raise ImageError(f"{src}: cannot write a scrubbed copy ({exc})", "check dst") from exc
    finally:
        im.close()
    return ScrubReport(
        src=src,
        dst=dst,
        removed=sorted(before - after),
        remaining_private=remaining,
        ok=not remaining,
        kept=sorted(after),
    )


def scrub_folder(
    src_folder: str | Path,
    dst_folder: str | Path,
    *,
    keep_orientation: bool = True,
    keep_icc: bool = True,
) -> BatchResult[ScrubReport]:
    """Scrub every image under ``src_folder`` into the same relative path under ``dst_folder``.

    ``dst_folder`` must lie outside ``src_folder`` so originals and clean copies never mix.
    """
    src_root, dst_root = Path(src_folder).resolve(), Path(dst_folder).resolve()
    if dst_root == src_root or src_root in dst_root.parents:
        raise ImageError(
            f"dst_folder {dst_folder} is inside src_folder {src_folder}",
            "write the clean copies to a folder outside the originals",
        )
    paths = iter_files(src_root, IMAGE_SUFFIXES)
    return process_files(
        paths,
        lambda p: scrub_exif(
            p,
            dst_root / p.relative_to(src_root),
            keep_orientation=keep_orientation,
            keep_icc=keep_icc,
        ),
    )
