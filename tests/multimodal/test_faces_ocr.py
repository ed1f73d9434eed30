"""Face detection and anonymisation on a real photo; OCR with the real tesseract binary."""

from __future__ import annotations

import importlib.util
import random
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from vega_lab.errors import ImageError, ModelWeightsError, UnknownNameError
from vega_lab.multimodal.image.faces import Face, anonymize_faces, blur_faces, detect_faces
from vega_lab.multimodal.image.io import load_image
from vega_lab.multimodal.image.ocr import ocr_folder, ocr_image, tesseract_languages
from vega_lab.multimodal.image.shapes import render_scene


def _has_haar() -> bool:
    import cv2

    return hasattr(cv2, "CascadeClassifier")


HAAR = _has_haar()
needs_haar = pytest.mark.skipif(
    not HAAR, reason="OpenCV >= 5 ships no Haar cascade (pin opencv-python-headless<5)"
)
# Grace Hopper's face in matplotlib's sample portrait (512 x 600), located by eye.
HOPPER_FACE = (150, 100, 380, 330)


def face_photo() -> Path:
    """A real portrait that ships inside an installed package (found without importing it)."""
    candidates = []
    mpl = importlib.util.find_spec("matplotlib")
    if mpl is not None and mpl.origin:
        candidates.append(Path(mpl.origin).parent / "mpl-data" / "sample_data" / "grace_hopper.jpg")
    for path in candidates:
        if path.is_file():
            return path
    pytest.skip("no packaged portrait photo found (matplotlib's sample data)")


@pytest.fixture(scope="module")
def hopper() -> Image.Image:
    return load_image(face_photo())


@needs_haar
def test_haar_finds_the_face_in_a_real_portrait(hopper: Image.Image) -> None:
    faces = detect_faces(hopper)
    assert faces, "no face found in a frontal portrait"
    face = faces[0]  # largest first
    cx, cy = (face.box[0] + face.box[2]) / 2, (face.box[1] + face.box[3]) / 2
    hx, hy = (HOPPER_FACE[0] + HOPPER_FACE[2]) / 2, (HOPPER_FACE[1] + HOPPER_FACE[3]) / 2
    assert abs(cx - hx) < 40 and abs(cy - hy) < 40
    assert 0.2 * hopper.width < face.width < 0.7 * hopper.width
    assert face.score >= 5  # merged raw detections, at least min_neighbors


@needs_haar
def test_haar_boxes_scale_back_from_a_downscaled_detection(hopper: Image.Image) -> None:
    big = hopper.resize((hopper.width * 2, hopper.height * 2), Image.Resampling.BILINEAR)
    small_faces = detect_faces(hopper)
    big_faces = detect_faces(big, max_side=600, min_size=60)
    assert big_faces
    expected = np.array(small_faces[0].box) * 2
    assert np.abs(np.array(big_faces[0].box) - expected).max() < 0.1 * big.width


@needs_haar
def test_no_face_in_generated_shapes() -> None:
    for seed in range(3):
        img = render_scene(random.Random(seed), size=256, n_objects=4).image
        assert detect_faces(img) == []


def test_engines_by_name(hopper: Image.Image, tmp_path: Path) -> None:
    with pytest.raises(UnknownNameError, match="haar"):
        detect_faces(hopper, engine="mtcnn")
    with pytest.raises(ModelWeightsError, match="yunet"):
        detect_faces(hopper, engine="yunet")
    fake = tmp_path / "yunet.onnx"
    fake.write_bytes(b"not an onnx model")
    with pytest.raises(ModelWeightsError, match="YuNet cannot run"):
        detect_faces(hopper, engine="yunet", model_path=fake)


@pytest.mark.parametrize("method", ["gaussian", "pixelate"])
def test_blur_faces_changes_the_face_only(hopper: Image.Image, method: str) -> None:
    face = Face(HOPPER_FACE, 1.0)
    out = blur_faces(hopper, [face], method=method, margin=0.0)
    before, after = np.asarray(hopper, float), np.asarray(out, float)
    x0, y0, x1, y1 = HOPPER_FACE
    inside = np.zeros(before.shape[:2], bool)
    inside[y0:y1, x0:x1] = True
    assert np.array_equal(before[~inside], after[~inside])
    assert np.abs(before[inside] - after[inside]).mean() > 5
    # detail is gone: the face region's gradients collapse
    detail = np.abs(np.diff(before[y0:y1, x0:x1], axis=1)).mean()
    assert np.abs(np.diff(after[y0:y1, x0:x1], axis=1)).mean() < 0.5 * detail
    assert np.array_equal(np.asarray(hopper), before.astype(np.uint8))  # input untouched
    with pytest.raises(UnknownNameError):
        blur_faces(hopper, [face], method="swirl")


@needs_haar
def test_anonymize_faces_end_to_end(hopper: Image.Image) -> None:
    out, faces = anonymize_faces(hopper, method="pixelate")
    assert faces and out.size == hopper.size
    assert detect_faces(out) == [] or detect_faces(out)[0].score < faces[0].score


SENTENCE = "Private data stays on this machine"
SECOND = "Differential privacy adds calibrated noise"


def render_text(lines: list[str], size: int = 40) -> tuple[Image.Image, list[tuple[int, ...]]]:
    font = ImageFont.load_default(size=size)
    img = Image.new("RGB", (1100, 70 * len(lines) + 40), "white")
    draw = ImageDraw.Draw(img)
    boxes = []
    for i, line in enumerate(lines):
        xy = (30, 25 + 70 * i)
        draw.text(xy, line, fill="black", font=font)
        boxes.append(draw.textbbox(xy, line, font=font))
    return img, boxes


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def test_ocr_reads_rendered_text() -> None:
    img, boxes = render_text([SENTENCE, SECOND])
    result = ocr_image(img)
    expected = words_of(SENTENCE) + words_of(SECOND)
    found = words_of(result.text)
    recovered = sum(min(found.count(w), expected.count(w)) for w in set(expected))
    assert recovered / len(expected) >= 0.9, result.text
    assert len(result.text.splitlines()) >= 2
    assert result.mean_conf > 0.7 and all(0 <= w.conf <= 1 for w in result.words)
    first = next(w for w in result.words if w.text.lower() == "private")
    x0, y0, x1, y1 = boxes[0]
    assert x0 - 5 <= first.box[0] < first.box[2] <= x1 + 5
    assert y0 - 10 <= first.box[1] < first.box[3] <= y1 + 10


def test_ocr_from_a_file_and_of_a_blank_page(tmp_path: Path) -> None:
    img, _ = render_text(["Seven federated clients"])
    path = tmp_path / "line.png"
    img.save(path)
    assert words_of(ocr_image(path, psm=7).text) == ["seven", "federated", "clients"]
    blank = ocr_image(Image.new("RGB", (300, 100), "white"))
    assert blank.text == "" and blank.words == [] and blank.mean_conf == 0.0


def test_ocr_errors_are_actionable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    img, _ = render_text(["x"])
    assert "eng" in tesseract_languages()
    with pytest.raises(ModelWeightsError, match="apt-get install tesseract-ocr-xyz"):
        ocr_image(img, lang="eng+xyz")
    with pytest.raises(ImageError, match="psm"):
        ocr_image(img, psm=0)
    monkeypatch.setenv("PATH", str(tmp_path))  # no tesseract on PATH
    with pytest.raises(ModelWeightsError, match="apt-get install tesseract-ocr"):
        ocr_image(img)


def test_ocr_folder_skips_bad_files(tmp_path: Path) -> None:
    img, _ = render_text(["Hello folder"])
    img.save(tmp_path / "a.png")
    (tmp_path / "b.jpg").write_text("not an image\n")
    result = ocr_folder(tmp_path, psm=7)
    assert [words_of(r.text) for _, r in result] == [["hello", "folder"]]
    assert [s.path.name for s in result.skipped] == ["b.jpg"]
