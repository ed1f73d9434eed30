"""Perceptual hashes find edited copies; quality scores rank blur and exposure correctly."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageFilter

from vega_lab.errors import ImageError, UnknownNameError
from vega_lab.multimodal.image.hashing import (
    HASHERS,
    DuplicateGroups,
    close_pairs,
    image_hash,
    near_duplicates,
)
from vega_lab.multimodal.image.quality import assess_folder, assess_quality, blur_score, exposure
from vega_lab.multimodal.image.shapes import render_scene


def scene(seed: int, size: int = 256) -> Image.Image:
    return render_scene(random.Random(seed), size=size, n_objects=3).image


def variants(img: Image.Image) -> dict[str, Image.Image]:
    """The edits a dataset's copies typically went through."""
    return {
        "resized": img.resize((180, 180), Image.Resampling.BICUBIC),
        "brightened": ImageEnhance.Brightness(img).enhance(1.25),
        "recompressed": img,  # saved below as a low-quality JPEG
    }


@pytest.fixture(scope="module")
def dup_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dups")
    base = scene(1)
    base.save(root / "a_original.png")
    for name, img in variants(base).items():
        if name == "recompressed":
            img.save(root / f"b_{name}.jpg", quality=30)
        else:
            img.save(root / f"b_{name}.png")
    for seed in (2, 3):
        scene(seed).save(root / f"c_other_{seed}.png")
    (root / "d_broken.jpg").write_text("not an image\n")
    return root


@pytest.mark.parametrize("method", sorted(HASHERS))
def test_edited_copies_hash_close_and_others_far(method: str) -> None:
    base = image_hash(scene(1), method)
    for name, img in variants(scene(1)).items():
        assert base - image_hash(img, method) <= 8, name
    assert base - image_hash(scene(2), method) > 8
    assert len(base.hash.flatten()) == 64


def test_unknown_method_is_refused_by_name() -> None:
    with pytest.raises(UnknownNameError, match="phash"):
        image_hash(scene(1), "md5")
    with pytest.raises(UnknownNameError):
        near_duplicates([], method="wavelet-ish")


def test_near_duplicates_groups_copies_and_reports_bad_files(dup_folder: Path) -> None:
    groups = near_duplicates(dup_folder, method="phash", max_distance=8)
    assert isinstance(groups, DuplicateGroups) and len(groups) == 1
    (group,) = groups
    assert sorted(p.name for p in group.paths) == [
        "a_original.png",
        "b_brightened.png",
        "b_recompressed.jpg",
        "b_resized.png",
    ]
    assert 0 <= group.max_distance <= 8 * 3  # single linkage: at most a chain of edges
    assert len(group.hashes) == 4 and all(len(h) == 16 for h in group.hashes)
    assert [s.path.name for s in groups.skipped] == ["d_broken.jpg"]


def test_near_duplicates_threshold_zero_and_path_list(dup_folder: Path) -> None:
    paths = sorted(dup_folder.glob("*.png"))
    exact = near_duplicates([*paths, paths[0]], max_distance=0)  # the same file twice
    assert [len(g) for g in exact] == [2]
    assert exact[0].max_distance == 0


@pytest.mark.parametrize("n_words", [1, 4])  # 64-bit (hash_size 8) and 256-bit codes
def test_vectorised_pairs_match_a_plain_comparison(
    n_words: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Clustered random codes, more than one block: exactly the pairs a double loop finds."""
    from vega_lab.multimodal.image import hashing

    rng = np.random.default_rng(n_words)
    centers = rng.integers(0, 2**63, (60, n_words), dtype=np.uint64)
    flips = np.uint64(1) << rng.integers(0, 64, (180, n_words)).astype(np.uint64)
    words = np.repeat(centers, 3, axis=0) ^ np.where(rng.random((180, n_words)) < 0.5, flips, 0)
    as_int = [sum(int(w) << (64 * k) for k, w in enumerate(row)) for row in words]
    monkeypatch.setattr(hashing, "_BLOCK_ELEMENTS", 37 * 180 * n_words)  # several blocks
    for radius in (0, 1, 3, 40):
        i, j = close_pairs(words, radius)
        got = set(zip(i.tolist(), j.tolist(), strict=True))
        want = {
            (a, b)
            for a in range(len(as_int))
            for b in range(a)
            if (as_int[a] ^ as_int[b]).bit_count() <= radius
        }
        assert got == want


def test_larger_hashes_group_too(dup_folder: Path) -> None:
    groups = near_duplicates(dup_folder, method="dhash", max_distance=40, hash_size=16)
    assert [len(g) for g in groups] == [4]
    assert all(len(h) == 64 for h in groups[0].hashes)  # 256 bits in hex


def test_blur_score_ranks_sharp_above_blurred() -> None:
    sharp = scene(4, size=320)
    scores = [
        blur_score(sharp.filter(ImageFilter.GaussianBlur(r)) if r else sharp) for r in (0, 1, 3)
    ]
    assert scores[0] > scores[1] > scores[2]
    assert scores[0] > 2 * scores[2]
    assert assess_quality(
        sharp.filter(ImageFilter.GaussianBlur(3)), blur_threshold=scores[1]
    ).is_blurry
    assert not assess_quality(sharp, blur_threshold=scores[1]).is_blurry
    # comparable across resolutions: an upscaled copy is not judged sharper
    big = sharp.resize((1280, 1280), Image.Resampling.BICUBIC)
    assert blur_score(big, max_side=320) < scores[0] * 1.5
    with pytest.raises(ImageError, match="too small"):
        blur_score(Image.new("L", (2, 2)))


def mid_tones(size: int = 128) -> Image.Image:
    """A full-range gradient with texture: mean luminance near 0.5, nothing clipped."""
    ramp = np.linspace(40, 215, size)[None, :].repeat(size, 0)
    noise = np.random.default_rng(0).normal(0, 10, (size, size))
    return Image.fromarray(np.clip(ramp + noise, 0, 255).astype(np.uint8), "L").convert("RGB")


def test_exposure_labels() -> None:
    img = mid_tones()
    assert exposure(img)["label"] == "ok"
    dark = exposure(ImageEnhance.Brightness(img).enhance(0.15))
    bright = exposure(ImageEnhance.Brightness(img).enhance(3.0))
    assert dark["label"] == "under" and bright["label"] == "over"
    assert dark["mean_luminance"] < exposure(img)["mean_luminance"] < bright["mean_luminance"]
    assert bright["bright_fraction"] > 0.5
    flat = assess_quality(Image.new("RGB", (64, 64), (128, 128, 128)))
    assert flat.contrast == 0.0 and flat.blur_score == 0.0 and flat.is_blurry


def test_assess_folder(dup_folder: Path) -> None:
    result = assess_folder(dup_folder)
    assert len(result) == 6 and [s.path.name for s in result.skipped] == ["d_broken.jpg"]
    q = dict(result)[dup_folder / "a_original.png"]
    assert q.exposure == "ok" and 0 < q.mean_luminance < 1 and q.blur_score > 0
    assert set(q.as_dict()) >= {"blur_score", "is_blurry", "exposure", "contrast"}
    assert np.isfinite(q.blur_score)
