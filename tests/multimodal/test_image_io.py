"""Image loading: content-sniffed formats, bombs, truncation, orientation, folders of bad files."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vega_lab.errors import ImageError
from vega_lab.multimodal.image.io import (
    DEFAULT_MAX_PIXELS,
    IMAGE_SUFFIXES,
    inspect_image,
    load_folder,
    load_image,
    resize,
    thumbnail,
)


def noisy(size: tuple[int, int] = (96, 64), seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def png_claiming(path: Path, width: int, height: int) -> Path:
    """A tiny valid PNG whose IHDR is patched to claim ``width`` x ``height`` (CRC fixed)."""
    Image.new("L", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    ihdr = 8 + 8  # signature, then chunk length and type
    data[ihdr : ihdr + 8] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr - 4 : ihdr + 13]))
    data[ihdr + 13 : ihdr + 17] = struct.pack(">I", crc)
    path.write_bytes(bytes(data))
    return path


def truncated_copy(src: Path, dst: Path, keep: float = 0.6) -> Path:
    data = src.read_bytes()
    dst.write_bytes(data[: int(len(data) * keep)])
    return dst


def test_suffixes_cover_common_formats() -> None:
    assert {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp", ".gif"} <= IMAGE_SUFFIXES


@pytest.mark.parametrize(
    "fmt,suffix",
    [
        ("JPEG", ".jpg"),
        ("PNG", ".png"),
        ("TIFF", ".tif"),
        ("WEBP", ".webp"),
        ("BMP", ".bmp"),
        ("GIF", ".gif"),
    ],
)
def test_every_supported_format_loads(tmp_path: Path, fmt: str, suffix: str) -> None:
    src = noisy()
    path = tmp_path / f"img{suffix}"
    src.save(path, format=fmt)
    img = load_image(path)
    assert img.mode == "RGB" and img.size == src.size
    info = inspect_image(path)
    assert (info.format, info.width, info.height, info.n_frames) == (fmt, 96, 64, 1)
    assert info.bytes == path.stat().st_size


def test_format_is_detected_from_content_not_suffix(tmp_path: Path) -> None:
    path = tmp_path / "really_a_png.jpg"
    noisy().save(path, format="PNG")
    assert inspect_image(path).format == "PNG"
    assert np.array_equal(np.asarray(load_image(path)), np.asarray(noisy()))


def test_text_file_named_jpg_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("just some notes, not a picture\n")
    with pytest.raises(ImageError, match="text file"):
        load_image(path)


@pytest.mark.parametrize("fmt,suffix", [("PCX", ".pcx"), ("ICO", ".ico")])
def test_unsupported_format_is_named(tmp_path: Path, fmt: str, suffix: str) -> None:
    path = tmp_path / f"icon{suffix}"
    noisy((32, 32)).save(path, format=fmt)
    with pytest.raises(ImageError, match=f"{fmt} format"):
        load_image(path)
    # the suffix lies too: the content decides
    disguised = tmp_path / "icon.png"
    disguised.write_bytes(path.read_bytes())
    with pytest.raises(ImageError, match=f"{fmt} format"):
        inspect_image(disguised)


def test_empty_and_missing_files(tmp_path: Path) -> None:
    empty = tmp_path / "empty.png"
    empty.touch()
    with pytest.raises(ImageError, match="empty"):
        load_image(empty)
    with pytest.raises(ImageError, match="does not exist"):
        load_image(tmp_path / "nope.png")


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    bomb = png_claiming(tmp_path / "bomb.png", 30000, 30000)  # 900 MP, 70 bytes on disk
    assert bomb.stat().st_size < 200
    with pytest.raises(ImageError, match="pixel limit") as err:
        load_image(bomb)
    assert "max_pixels" in str(err.value) and "900,000,000" in str(err.value)
    with pytest.raises(ImageError, match="pixel limit"):
        inspect_image(bomb, decode=False)


def test_our_limit_applies_below_pillows(tmp_path: Path) -> None:
    # 81 MP: under Pillow's own threshold (89.5 MP), over our default of 80 MP
    big = png_claiming(tmp_path / "big.png", 9000, 9000)
    assert DEFAULT_MAX_PIXELS < 9000 * 9000
    with pytest.raises(ImageError, match="decompression bomb"):
        inspect_image(big, decode=False)
    path = tmp_path / "small.png"
    noisy((100, 100)).save(path)
    with pytest.raises(ImageError, match="10,000 pixels"):
        load_image(path, max_pixels=5_000)
    assert load_image(path, max_pixels=10_000).size == (100, 100)


def test_raising_max_pixels_lets_a_trusted_large_image_through(tmp_path: Path) -> None:
    path = tmp_path / "wide.png"
    pil_limit = Image.MAX_IMAGE_PIXELS
    Image.new("1", (20000, 10000)).save(path)  # 200 MP: above 2x Pillow's limit, 25 KB on disk
    with pytest.raises(ImageError, match="pixel limit"):
        inspect_image(path, decode=False)
    info = inspect_image(path, decode=False, max_pixels=250_000_000)
    assert (info.width, info.height) == (20000, 10000)
    assert pil_limit == Image.MAX_IMAGE_PIXELS  # Pillow's global is restored


@pytest.mark.parametrize("fmt,suffix", [("JPEG", ".jpg"), ("PNG", ".png")])
def test_truncated_file_is_detected(tmp_path: Path, fmt: str, suffix: str) -> None:
    whole = tmp_path / f"whole{suffix}"
    noisy((200, 150)).save(whole, format=fmt)
    cut = truncated_copy(whole, tmp_path / f"cut{suffix}")
    with pytest.raises(ImageError, match="truncated"):
        load_image(cut)
    with pytest.raises(ImageError, match="truncated"):
        inspect_image(cut)
    if fmt == "JPEG":  # a PNG keeps metadata after its pixels: even the header check fails
        assert inspect_image(cut, decode=False).width == 200


def test_truncation_check_holds_even_if_pillow_is_told_to_ignore_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import ImageFile

    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)  # as some libraries do
    whole = tmp_path / "whole.jpg"
    noisy((200, 150)).save(whole)
    with pytest.raises(ImageError, match="truncated"):
        load_image(truncated_copy(whole, tmp_path / "cut.jpg"))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    stored = Image.new("RGB", (60, 40), (0, 0, 255))
    stored.paste((255, 0, 0), (0, 0, 30, 40))  # left half red
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise
    path = tmp_path / "phone.jpg"
    stored.save(path, exif=exif, quality=95)
    img = load_image(path)
    assert img.size == (40, 60)
    top, bottom = np.asarray(img)[5, 20], np.asarray(img)[55, 20]
    assert top[0] > 200 and top[2] < 60  # the left (red) half is now on top
    assert bottom[2] > 200 and bottom[0] < 60
    info = inspect_image(path)
    assert (info.width, info.height, info.orientation, info.has_exif) == (40, 60, 6, True)


def test_animated_gif_gives_first_frame_and_frame_count(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (32, 32), c) for c in [(255, 0, 0), (0, 255, 0), (0, 0, 255)]]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    img = load_image(path)
    assert img.info["n_frames"] == 3
    assert tuple(np.asarray(img)[16, 16]) == (255, 0, 0)
    assert inspect_image(path).n_frames == 3


def test_cut_animation_is_detected(tmp_path: Path) -> None:
    frames = [noisy((64, 64), seed=i) for i in range(5)]
    whole = tmp_path / "anim.gif"
    frames[0].save(whole, save_all=True, append_images=frames[1:])
    cut = truncated_copy(whole, tmp_path / "cut.gif", keep=0.7)  # frames 1-3 are intact
    with pytest.raises(ImageError, match="truncated"):
        load_image(cut)


def test_transparency_is_flattened_on_white(tmp_path: Path) -> None:
    path = tmp_path / "alpha.png"
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(path)
    assert tuple(np.asarray(load_image(path))[0, 0]) == (255, 255, 255)
    assert load_image(path, mode=None).mode == "RGBA"


def test_resize_and_thumbnail(tmp_path: Path) -> None:
    img = noisy((400, 200))
    assert resize(img, 100).size == (100, 50)
    assert resize(img, (50, 50)).size == (50, 25)
    assert resize(img, (50, 50), keep_aspect=False).size == (50, 50)
    with pytest.raises(ImageError):
        resize(img, 0)
    src = tmp_path / "src.png"
    img.save(src)
    before = src.read_bytes()
    thumb = thumbnail(src, 64, out=tmp_path / "thumb.jpg")
    assert thumb.size == (64, 32)
    assert inspect_image(tmp_path / "thumb.jpg").format == "JPEG"
    assert thumbnail(img, 1000).size == (400, 200)  # never upscaled
    with pytest.raises(ImageError, match="overwrite"):
        thumbnail(src, 32, out=src)
    with pytest.raises(ImageError, match="suffix"):
        thumbnail(src, 32, out=tmp_path / "thumb.xyz")
    assert src.read_bytes() == before


def make_mixed_folder(root: Path) -> dict[str, Path]:
    """Two good images (one nested) and every kind of bad file a real folder holds."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "sub").mkdir(exist_ok=True)
    files = {
        "good_png": root / "a_good.png",
        "good_jpg": root / "sub" / "b_good.jpg",
        "truncated": root / "c_truncated.jpg",
        "text": root / "d_text.png",
        "empty": root / "e_empty.jpg",
    }
    noisy(seed=1).save(files["good_png"])
    noisy(seed=2).save(files["good_jpg"])
    noisy((200, 150), seed=3).save(root / "whole.tmp", format="JPEG")
    truncated_copy(root / "whole.tmp", files["truncated"])
    (root / "whole.tmp").unlink()
    files["text"].write_text("hello, I am text\n")
    files["empty"].touch()
    (root / "readme.txt").write_text("not an image suffix: ignored\n")
    return files


def test_load_folder_skips_bad_files_with_reasons(tmp_path: Path) -> None:
    files = make_mixed_folder(tmp_path / "mixed")
    result = load_folder(tmp_path / "mixed")
    assert sorted(p.name for p, _ in result) == ["a_good.png", "b_good.jpg"]
    reasons = {s.path.name: s.error for s in result.skipped}
    assert set(reasons) == {"c_truncated.jpg", "d_text.png", "e_empty.jpg"}
    assert "truncated" in reasons["c_truncated.jpg"]
    assert "text file" in reasons["d_text.png"]
    assert "empty" in reasons["e_empty.jpg"]
    assert "2 processed, 3 skipped" in result.summary()
    assert all(isinstance(info.width, int) for _, info in result)
    assert files["good_png"].exists()
