"""EXIF reading and scrubbing, checked independently with Pillow and on the raw bytes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import ExifTags, Image, ImageCms, PngImagePlugin
from PIL.TiffImagePlugin import IFDRational

from vega_lab.errors import ImageError
from vega_lab.multimodal.image.exif import (
    PRIVATE_TAGS,
    metadata_fields,
    read_exif,
    scrub_exif,
    scrub_folder,
)
from vega_lab.multimodal.image.io import load_image

SECRETS = (b"Jane Doe", b"Canon", b"SN-4711", b"Secret Street")


def picture(size: tuple[int, int] = (120, 80)) -> Image.Image:
    """Smooth gradients (JPEG-friendly) with a red block marking the top-left corner."""
    x = np.linspace(0, 255, size[0])[None, :].repeat(size[1], 0)
    y = np.linspace(0, 255, size[1])[:, None].repeat(size[0], 1)
    arr = np.stack([x, y, 255 - x], axis=-1).astype(np.uint8)
    arr[:20, :20] = (255, 0, 0)
    return Image.fromarray(arr, "RGB")


def private_exif(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "Canon"  # Make
    exif[0x0110] = "Canon EOS R5"  # Model
    exif[0x013B] = "Jane Doe"  # Artist
    exif[0x9C9D] = "Jane Doe".encode("utf-16-le") + b"\0\0"  # XPAuthor
    exif[0x0112] = orientation
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    sub[0xA431] = "SN-4711"  # BodySerialNumber
    sub[0x9003] = "2024:05:17 08:30:00"  # DateTimeOriginal
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[1], gps[3] = "S", "W"
    gps[2] = (IFDRational(33, 1), IFDRational(52, 1), IFDRational(1200, 100))
    gps[4] = (IFDRational(151, 1), IFDRational(12, 1), IFDRational(3600, 100))
    return exif


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.jpg"
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">Secret Street 12</x:xmpmeta>'
    picture().save(path, exif=private_exif(orientation=6), quality=95, xmp=xmp, comment=b"Jane Doe")
    return path


def test_read_exif_names_tags_and_decodes_gps(photo: Path) -> None:
    tags = read_exif(photo)
    assert tags["Make"] == "Canon" and tags["Model"] == "Canon EOS R5"
    assert tags["Artist"] == "Jane Doe" and tags["XPAuthor"] == "Jane Doe"
    assert tags["BodySerialNumber"] == "SN-4711"
    assert tags["DateTimeOriginal"] == "2024:05:17 08:30:00"
    assert tags["Orientation"] == 6
    # 33 deg 52' 12" S, 151 deg 12' 36" W
    assert tags["latitude"] == pytest.approx(-(33 + 52 / 60 + 12 / 3600))
    assert tags["longitude"] == pytest.approx(-(151 + 12 / 60 + 36 / 3600))


def test_read_exif_of_a_clean_file_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "plain.png"
    picture().save(path)
    assert read_exif(path) == {}
    assert metadata_fields(path) == []


def test_private_tag_groups() -> None:
    assert {"gps", "device", "owner", "datetime"} <= set(PRIVATE_TAGS)
    assert {"Make", "Model", "BodySerialNumber", "LensSerialNumber", "Software"} <= PRIVATE_TAGS[
        "device"
    ]
    assert {"Artist", "Copyright", "CameraOwnerName", "XPAuthor"} <= PRIVATE_TAGS["owner"]
    assert "GPSLatitude" in PRIVATE_TAGS["gps"]


def test_scrub_jpeg_removes_everything_private_and_keeps_the_picture(photo: Path) -> None:
    original = sha(photo)
    before = Image.open(photo)
    assert before.getexif()[0x010F] == "Canon" and before.getexif()[0x013B] == "Jane Doe"
    assert before.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert before.info.get("xmp") and before.info.get("comment")
    assert all(secret in photo.read_bytes() for secret in SECRETS)

    report = scrub_exif(photo)

    assert report.dst == photo.with_name("photo.scrubbed.jpg") and report.dst.exists()
    assert report.ok and report.remaining_private == []
    for field in ("gps:GPSLatitude", "device:Make", "device:Model", "device:BodySerialNumber"):
        assert field in report.removed
    for field in ("owner:Artist", "owner:XPAuthor", "datetime:DateTimeOriginal"):
        assert field in report.removed
    assert {"embedded:XMP", "embedded:comment", "other:Orientation"} <= set(report.removed)
    # independent check: Pillow finds no metadata, and no secret is left anywhere in the bytes
    after = Image.open(report.dst)
    assert len(after.getexif()) == 0
    assert not after.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert not {"exif", "xmp", "comment", "photoshop"} & set(after.info)
    data = report.dst.read_bytes()
    assert not [s for s in SECRETS if s in data]
    # orientation is baked into the pixels: same picture as the upright original
    upright, clean = np.asarray(load_image(photo), float), np.asarray(load_image(report.dst), float)
    assert clean.shape == upright.shape == (120, 80, 3)
    assert np.abs(clean - upright).mean() < 3.0
    assert sha(photo) == original  # the original is untouched


def test_scrub_png_text_chunks_exactly_preserving_pixels(tmp_path: Path) -> None:
    src = tmp_path / "figure.png"
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe")
    info.add_itxt("Description", "taken at Secret Street 12")
    picture().save(src, pnginfo=info, exif=private_exif())
    assert Image.open(src).text["Author"] == "Jane Doe"
    original = sha(src)

    report = scrub_exif(src, tmp_path / "out" / "clean.png")

    assert report.ok and report.dst == tmp_path / "out" / "clean.png"
    assert {"embedded:PNG text Author", "embedded:PNG text Description", "device:Make"} <= set(
        report.removed
    )
    after = Image.open(report.dst)
    assert after.text == {} and len(after.getexif()) == 0
    assert not [s for s in SECRETS if s in report.dst.read_bytes()]
    assert np.array_equal(np.asarray(after.convert("RGB")), np.asarray(picture()))
    assert sha(src) == original


def test_scrub_without_baking_orientation_keeps_stored_pixels(photo: Path, tmp_path: Path) -> None:
    report = scrub_exif(photo, tmp_path / "raw.jpg", keep_orientation=False)
    assert Image.open(report.dst).size == (120, 80)  # as stored, not rotated
    assert "other:Orientation" in report.removed


def test_scrub_keeps_or_drops_the_colour_profile(tmp_path: Path) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    src = tmp_path / "icc.jpg"
    picture().save(src, icc_profile=icc, exif=private_exif())
    kept = scrub_exif(src, tmp_path / "kept.jpg")
    assert Image.open(kept.dst).info.get("icc_profile") == icc
    assert kept.kept == ["icc:ICC profile"]
    dropped = scrub_exif(src, tmp_path / "dropped.jpg", keep_icc=False)
    assert "icc_profile" not in Image.open(dropped.dst).info
    assert "icc:ICC profile" in dropped.removed


def test_scrub_animated_gif_keeps_every_frame(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (24, 24), c) for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    src = tmp_path / "anim.gif"
    frames[0].save(
        src, save_all=True, append_images=frames[1:], duration=80, loop=0, comment=b"Jane Doe"
    )
    report = scrub_exif(src)
    assert "embedded:comment" in report.removed
    after = Image.open(report.dst)
    assert after.n_frames == 3 and "comment" not in after.info
    after.seek(2)
    assert tuple(np.asarray(after.convert("RGB"))[5, 5]) == (0, 0, 255)


def test_scrub_refuses_to_overwrite_and_leaves_nothing_on_failure(tmp_path: Path) -> None:
    src = tmp_path / "a.jpg"
    picture().save(src, exif=private_exif())
    with pytest.raises(ImageError, match="overwrite"):
        scrub_exif(src, src)
    cut = tmp_path / "cut.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (150, 200, 3), dtype=np.uint8)).save(
        cut, exif=private_exif()
    )
    cut.write_bytes(cut.read_bytes()[: int(cut.stat().st_size * 0.6)])
    with pytest.raises(ImageError, match="truncated"):
        scrub_exif(cut, tmp_path / "never.jpg")
    assert not (tmp_path / "never.jpg").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.jpg", "cut.jpg"]


def test_scrub_folder_skips_bad_files(tmp_path: Path) -> None:
    src = tmp_path / "originals"
    (src / "trip").mkdir(parents=True)
    picture().save(src / "trip" / "beach.jpg", exif=private_exif())
    picture().save(src / "plot.png", exif=private_exif())
    (src / "broken.png").write_text("not an image\n")
    (src / "zero.jpg").touch()
    dst = tmp_path / "clean"

    result = scrub_folder(src, dst)

    assert sorted(p.name for p, _ in result) == ["beach.jpg", "plot.png"]
    assert {s.path.name for s in result.skipped} == {"broken.png", "zero.jpg"}
    for _, report in result:
        assert report.ok and "device:Make" in report.removed
        assert report.dst.is_relative_to(dst) and len(Image.open(report.dst).getexif()) == 0
    assert (dst / "trip" / "beach.jpg").exists()
    with pytest.raises(ImageError, match="outside"):
        scrub_folder(src, src / "clean")
