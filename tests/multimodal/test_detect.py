"""YOLO detection through ultralytics with the tiny shapes YOLO trained here (cached once).

The model is trained by ``ensure_tiny_yolo`` (the small shared config, ~70 s on one CPU thread
the first time, then cached under models_path) and loaded back from its ``best.pt`` through the
same path as downloaded weights. Scenes for the quality check come from a seed stream the
model never saw in training or validation.
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from vega_lab.config import get_settings
from vega_lab.errors import ImageError, ModelWeightsError, TrainingError
from vega_lab.multimodal.image.detect import (
    Detection,
    Detector,
    detect_folder,
    draw_detections,
    load_detector,
)
from vega_lab.multimodal.image.shapes import SHAPES, Scene, render_scene
from vega_lab.multimodal.image.tiny_yolo import (
    TinyYoloConfig,
    TinyYoloResult,
    ensure_tiny_yolo,
    read_results_csv,
)

CONFIG = TinyYoloConfig()  # the small shared model load_detector() falls back to


@pytest.fixture(scope="module")
def weights() -> Path:
    return ensure_tiny_yolo(CONFIG)


@pytest.fixture(scope="module")
def detector(weights: Path) -> Detector:
    return load_detector(weights, threads=1)


@pytest.fixture(scope="module")
def fresh() -> list[Scene]:
    rng = random.Random("test-detect-fresh")
    return [render_scene(rng, size=CONFIG.imgsz, n_objects=rng.randint(1, 3)) for _ in range(24)]


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple]]:
    """Any DNS lookup or socket connect is recorded and refused."""
    attempts: list[tuple] = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access attempted in a test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", lambda self, *a: refuse(*a))
    monkeypatch.setattr(socket, "create_connection", refuse)
    yield attempts


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def _matches(det: Detection, scene: Scene) -> bool:
    return any(o.shape == det.label and _iou(det.box, o.box) >= 0.5 for o in scene.objects)


@pytest.mark.slow  # trains the shared model when the cache is empty
def test_finds_the_right_shapes_on_unseen_scenes(detector: Detector, fresh: list[Scene]) -> None:
    results = detector.detect([s.image for s in fresh])
    assert len(results) == len(fresh)
    truth = [(o, dets) for s, dets in zip(fresh, results, strict=True) for o in s.objects]
    found = [
        any(d.label == o.shape and _iou(d.box, o.box) >= 0.5 for d in dets) for o, dets in truth
    ]
    recall = sum(found) / len(found)
    confident = [(d, s) for s, dets in zip(fresh, results, strict=True) for d in dets]
    confident = [(d, s) for d, s in confident if d.confidence >= 0.5]
    precision = sum(_matches(d, s) for d, s in confident) / max(1, len(confident))
    assert recall >= 0.7, f"recall@IoU0.5 with the right label {recall:.2f}"
    assert precision >= 0.7, f"precision of confident detections {precision:.2f}"


def test_detections_are_well_formed(detector: Detector, fresh: list[Scene]) -> None:
    assert detector.names == dict(enumerate(SHAPES))
    results = detector.detect([s.image for s in fresh[:8]], conf=0.1)
    assert any(results)
    for scene, dets in zip(fresh, results, strict=False):
        w, h = scene.image.size
        assert [d.confidence for d in dets] == sorted((d.confidence for d in dets), reverse=True)
        for d in dets:
            x0, y0, x1, y1 = d.box
            assert -0.5 <= x0 < x1 <= w + 0.5 and -0.5 <= y0 < y1 <= h + 0.5
            assert d.label == SHAPES[d.class_id] and 0.1 <= d.confidence <= 1.0
    strict = detector.detect([s.image for s in fresh[:8]], conf=0.6)
    for loose, tight in zip(results, strict, strict=True):
        assert {d.box for d in tight} <= {d.box for d in loose}


def test_single_image_path_and_pil_agree(
    detector: Detector, fresh: list[Scene], tmp_path: Path
) -> None:
    scene = fresh[0]
    path = tmp_path / "scene.png"
    scene.image.save(path)
    from_pil = detector.detect(scene.image)
    from_path = detector.detect(path)
    assert len(from_pil) == len(from_path) == 1
    assert [d.label for d in from_pil[0]] == [d.label for d in from_path[0]]
    for a, b in zip(from_pil[0], from_path[0], strict=True):
        assert np.allclose(a.box, b.box, atol=0.5)


def test_draw_detections_marks_the_boxes(detector: Detector, fresh: list[Scene]) -> None:
    found = detector.detect([s.image for s in fresh])
    scene = next(s for s, d in zip(fresh, found, strict=True) if d)
    dets = detector.detect(scene.image)[0]
    before = np.asarray(scene.image).copy()
    drawn = draw_detections(scene.image, dets)
    assert drawn.size == scene.image.size and drawn.mode == "RGB"
    assert np.array_equal(np.asarray(scene.image), before)  # the input is not drawn on
    out = np.asarray(drawn).astype(int)
    for d in dets:
        _, y0, x1, y1 = d.box
        rows = slice(round(y0) + 2, round(y1) - 1)
        cols = slice(max(0, int(x1) - 1), min(drawn.width, int(x1) + 2))
        # the right edge is never under the label: drawn over along the box (a shape of the
        # outline's own colour may touch it in a few rows)
        changed = np.abs(out[rows, cols] - before[rows, cols]).sum(axis=2).max(axis=1)
        assert (changed > 30).mean() >= 0.8
    assert np.array_equal(np.asarray(draw_detections(scene.image, [])), before)


def test_load_detector_refuses_what_would_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[tuple]
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelWeightsError, match="VEGA_YOLO_MODEL") as info:
        load_detector("yolov8n.pt")
    assert "download" in str(info.value)
    with pytest.raises(ModelWeightsError, match="not found"):
        load_detector(tmp_path / "missing" / "best.pt")
    (tmp_path / "model.onnx").write_bytes(b"onnx")
    with pytest.raises(ModelWeightsError, match=r"\.pt"):
        load_detector(tmp_path / "model.onnx")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"this is not a torch checkpoint" * 10)
    with pytest.raises(ModelWeightsError, match="cannot load"):
        load_detector(corrupt)
    assert not no_network
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corrupt.pt", "model.onnx"]


def test_settings_choose_the_weights(weights: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEGA_YOLO_MODEL", str(weights.parent / "nope.pt"))
    get_settings.cache_clear()
    try:
        with pytest.raises(ModelWeightsError, match=r"nope\.pt"):
            load_detector()
        monkeypatch.setenv("VEGA_YOLO_MODEL", str(weights))  # the real .pt loading path
        get_settings.cache_clear()
        det = load_detector()
    finally:
        get_settings.cache_clear()
    assert det.weights == weights.resolve()
    assert det.names == dict(enumerate(SHAPES))


def test_corrupt_images_raise_and_folders_skip_them(
    detector: Detector, fresh: list[Scene], tmp_path: Path
) -> None:
    for i, scene in enumerate(fresh[:3]):
        scene.image.save(tmp_path / f"ok{i}.png")
    good = (tmp_path / "ok0.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(good[: len(good) // 2])
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ImageError, match=r"truncated\.png"):
        detector.detect([tmp_path / "ok0.png", tmp_path / "truncated.png"])
    result = detect_folder(tmp_path, detector, batch_size=2)
    assert sorted(p.name for p, _ in result.items) == ["ok0.png", "ok1.png", "ok2.png"]
    assert sorted(s.path.name for s in result.skipped) == ["notes.png", "truncated.png"]
    by_name = {p.name: d for p, d in result.items}
    alone = detector.detect(fresh[1].image)[0]
    assert [d.label for d in by_name["ok1.png"]] == [d.label for d in alone]
    for a, b in zip(by_name["ok1.png"], alone, strict=True):
        assert np.allclose(a.box, b.box, atol=0.5)


def test_cached_metrics_are_readable(weights: Path) -> None:
    result = TinyYoloResult.load(weights)
    assert result.config == CONFIG and result.weights == weights
    assert 0.5 <= result.metrics["map50"] <= 1 and 0 < result.metrics["map50_95"] <= 1
    assert set(result.per_class_ap50) <= set(SHAPES)
    history = read_results_csv(weights.parent / "results.csv")
    assert [row["epoch"] for row in history] == list(range(1, CONFIG.epochs + 1))
    assert history[-1]["train_box_loss"] < history[0]["train_box_loss"]


def test_config_refuses_weights_names() -> None:
    with pytest.raises(TrainingError, match="would download"):
        TinyYoloConfig(arch="yolov8n.pt")
    with pytest.raises(TrainingError, match="multiple of 32"):
        TinyYoloConfig(imgsz=100)


def test_training_is_offline_cached_and_leaves_no_trace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[tuple]
) -> None:
    monkeypatch.setenv("VEGA_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    micro = TinyYoloConfig(n_train=16, n_val=8, epochs=2, imgsz=64, batch=8, seed=3)
    try:
        random.seed(123)
        expected = random.Random(123).random()
        path = ensure_tiny_yolo(micro)
        assert random.random() == expected  # training left the caller's global RNG alone
        mtime = path.stat().st_mtime_ns
        assert ensure_tiny_yolo(micro) == path and path.stat().st_mtime_ns == mtime
    finally:
        get_settings.cache_clear()
    assert not no_network
    assert path == tmp_path / "models" / "tiny_yolo" / micro.key() / "best.pt"
    assert sorted(p.name for p in path.parent.iterdir()) == sorted(
        ["best.pt", "metrics.json", "results.csv"]
    )
    leftovers = [p.name for p in path.parent.parent.iterdir() if p.is_dir()]
    assert leftovers == [micro.key()]  # no temp folder survived the rename
    assert sorted(p.name for p in tmp_path.iterdir()) == ["models"]  # no ./runs
    result = TinyYoloResult.load(path)
    assert len(result.history) == 2 and "map50" in result.history[-1]
    assert "map50" not in result.history[0]  # not validated: no made-up zeros
    blank = load_detector(path).detect(Image.new("RGB", (64, 64), (200, 200, 200)), conf=0.0)
    assert len(blank) == 1 and all(isinstance(d, Detection) for d in blank[0])
