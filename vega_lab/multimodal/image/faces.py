"""Face detection and anonymisation (blur or pixelate every detected face).

Photos of people are personal data; before a dataset is shared, faces of bystanders are often
to be made unrecognisable. Engines, by name:

- ``"haar"`` (default): OpenCV's Viola-Jones frontal-face cascade, whose model file ships
  inside the OpenCV 4 wheel, so it works offline with nothing to download. OpenCV 5 dropped
  the cascade classifier and its files: there this engine raises ``ModelWeightsError``.
- ``"yunet"``: OpenCV's YuNet CNN (``cv2.FaceDetectorYN``), far better on profiles, small and
  occluded faces; its ONNX file (``face_detection_yunet_2023mar.onnx`` from the OpenCV model
  zoo) is not shipped by any installed package, so pass ``model_path``.

Anonymisation is only as good as detection: a missed face stays visible. For publication, check
the detections (``draw`` them) or prefer YuNet with a low ``score_threshold``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from vega_lab.errors import ImageError, ModelWeightsError
from vega_lab.multimodal.image.io import load_image
from vega_lab.registry import check_name, lookup

__all__ = ["ENGINES", "Face", "anonymize_faces", "blur_faces", "detect_faces"]

HAAR_FILE = "haarcascade_frontalface_default.xml"


@dataclass(frozen=True)
class Face:
    """A face box (x0, y0, x1, y1) in pixels of the input image, and the engine's score.

    YuNet's score is a probability (0-1); Haar's is the number of overlapping raw detections
    merged into the box (at least ``min_neighbors``): higher is surer, but not a probability.
    """

    box: tuple[int, int, int, int]
    score: float

    @property
    def width(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def height(self) -> int:
        return self.box[3] - self.box[1]


def _cv2():
    import cv2

    return cv2


@functools.lru_cache(maxsize=4)
def _cascade(path: str):
    cv2 = _cv2()
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise ModelWeightsError(
            f"cannot load the Haar cascade {path}", "reinstall opencv-python-headless<5"
        )
    return cascade


def _haar(
    bgr: np.ndarray, min_size: int, min_score: float | None, model_path: Path | None
) -> list[Face]:
    cv2 = _cv2()
    if not hasattr(cv2, "CascadeClassifier"):
        raise ModelWeightsError(
            f"OpenCV {cv2.__version__} has no Haar cascade face detector (OpenCV 5 removed it)",
            "pin opencv-python-headless<5 and opencv-python<5, "
            "or use engine='yunet' with model_path=<face_detection_yunet_2023mar.onnx>",
        )
    path = Path(model_path) if model_path else Path(cv2.data.haarcascades) / HAAR_FILE
    if not path.is_file():
        raise ModelWeightsError(
            f"Haar cascade file {path} not found",
            "reinstall opencv-python-headless<5 or pass model_path",
        )
    gray = cv2.equalizeHist(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
    neighbors = 5 if min_score is None else max(1, round(min_score))
    rects, counts = _cascade(str(path)).detectMultiScale2(
        gray, scaleFactor=1.1, minNeighbors=neighbors, minSize=(min_size, min_size)
    )
    return [
        Face((int(x), int(y), int(x + w), int(y + h)), float(n))
        for (x, y, w, h), n in zip(rects, counts, strict=True)
    ]


def _yunet(
    bgr: np.ndarray, min_size: int, min_score: float | None, model_path: Path | None
) -> list[Face]:
    cv2 = _cv2()
    if model_path is None or not Path(model_path).is_file():
        raise ModelWeightsError(
            f"YuNet needs its ONNX model file (model_path={model_path})",
            "download face_detection_yunet_2023mar.onnx from the OpenCV model zoo on a machine "
            "with internet and pass model_path=",
        )
    h, w = bgr.shape[:2]
    thr = 0.6 if min_score is None else float(min_score)
    try:
        detector = cv2.FaceDetectorYN.create(str(model_path), "", (w, h), thr, 0.3, 5000)
        _, rows = detector.detect(bgr)
    except cv2.error as exc:
        raise ModelWeightsError(
            f"YuNet cannot run {model_path}: {exc}", "pass a YuNet ONNX file"
        ) from exc
    faces = []
    for row in rows if rows is not None else []:
        x, y, fw, fh = (float(v) for v in row[:4])
        if min(fw, fh) >= min_size:
            box = (max(0, int(x)), max(0, int(y)), min(w, int(x + fw)), min(h, int(y + fh)))
            faces.append(Face(box, float(row[-1])))
    return faces


Engine = Callable[[np.ndarray, int, "float | None", "Path | None"], list[Face]]
ENGINES: dict[str, Engine] = {"haar": _haar, "yunet": _yunet}
BLUR_METHODS: tuple[str, ...] = ("gaussian", "pixelate")


def detect_faces(
    image: str | Path | Image.Image,
    *,
    engine: str = "haar",
    min_size: int = 30,
    min_score: float | None = None,
    max_side: int | None = 1280,
    model_path: str | Path | None = None,
) -> list[Face]:
    """Faces in an image or file, largest first, boxes in the input image's pixels.

    ``min_size`` is the smallest face side in input pixels. ``min_score`` drops weaker faces:
    for Haar it is the minimum number of merged detections (default 5: fewer false alarms,
    lower to find more faces), for YuNet the minimum probability (default 0.6). Images larger
    than ``max_side`` are detected on a downscaled copy (faster; boxes are scaled back).
    """
    run = lookup(ENGINES, engine, "face engine")
    img = image if isinstance(image, Image.Image) else load_image(image)
    rgb = img.convert("RGB")
    scale = 1.0
    if max_side is not None and max(rgb.size) > max_side:
        scale = max_side / max(rgb.size)
        rgb = rgb.resize(
            (round(rgb.width * scale), round(rgb.height * scale)), Image.Resampling.BILINEAR
        )
    bgr = np.ascontiguousarray(np.asarray(rgb)[:, :, ::-1])
    weights = Path(model_path) if model_path is not None else None
    found = run(bgr, max(1, round(min_size * scale)), min_score, weights)
    if scale != 1.0:
        found = [Face(_rescale(f.box, scale, img.size), f.score) for f in found]
    return sorted(found, key=lambda f: -f.width * f.height)


def _rescale(
    box: tuple[int, int, int, int], scale: float, size: tuple[int, int]
) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = (round(v / scale) for v in box)
    return max(0, x0), max(0, y0), min(size[0], x1), min(size[1], y1)


def _expand(
    box: tuple[int, int, int, int], margin: float, size: tuple[int, int]
) -> tuple[int, int, int, int]:
    x0, y0, x1, y1 = box
    dx, dy = round((x1 - x0) * margin), round((y1 - y0) * margin)
    return max(0, x0 - dx), max(0, y0 - dy), min(size[0], x1 + dx), min(size[1], y1 + dy)


def blur_faces(
    image: Image.Image, faces: list[Face], *, method: str = "gaussian", margin: float = 0.1
) -> Image.Image:
    """A copy of ``image`` with every face box (grown by ``margin``) made unrecognisable.

    ``"gaussian"``: a blur whose radius scales with the face (a quarter of its side), so large
    faces are not merely softened; ``"pixelate"``: 8x8 blocks over the face. Pixels outside the
    boxes are unchanged.
    """
    check_name(method, BLUR_METHODS, "anonymisation method")
    out = image.copy()
    for face in faces:
        box = _expand(face.box, margin, out.size)
        w, h = box[2] - box[0], box[3] - box[1]
        if w <= 0 or h <= 0:
            raise ImageError(
                f"face box {face.box} lies outside the {out.width}x{out.height} image",
                "detect on this image",
            )
        region = out.crop(box)
        if method == "gaussian":
            region = region.filter(ImageFilter.GaussianBlur(radius=max(2.0, max(w, h) / 4)))
        else:
            small = region.resize((max(1, min(8, w)), max(1, min(8, h))), Image.Resampling.BOX)
            region = small.resize((w, h), Image.Resampling.NEAREST)
        out.paste(region, box[:2])
    return out


def anonymize_faces(
    image: str | Path | Image.Image, *, engine: str = "haar", method: str = "gaussian", **detect_kw
) -> tuple[Image.Image, list[Face]]:
    """Detect and anonymise faces in one call; returns the new image and the faces found."""
    img = image if isinstance(image, Image.Image) else load_image(image)
    faces = detect_faces(img, engine=engine, **detect_kw)
    return blur_faces(img, faces, method=method), faces
