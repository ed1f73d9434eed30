"""Object detection with ultralytics YOLO, offline: real ``.pt`` weights, or the tiny shapes YOLO.

``load_detector`` resolves a spec to a ``.pt`` file on disk and never lets ultralytics download:
a bare name such as ``yolov8n.pt`` is what ultralytics fetches from GitHub when it is missing,
so a missing file is a ``ModelWeightsError`` before ultralytics sees it. No COCO weights ship
offline, so ``spec=None`` (and no ``VEGA_YOLO_MODEL``) gives the tiny shapes YOLO trained here
(``tiny_yolo``), saved by ultralytics itself so it loads through exactly the same path.

``import_ultralytics`` (``ultralytics_setup``) is the one door to ultralytics: it points its
settings folder into ``models_path`` and switches off every network touch (online check,
analytics, auto-install, the Arial.ttf download) before the first import.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vega_lab.errors import ImageError, ModelWeightsError
from vega_lab.multimodal.batch import BatchResult, iter_files, process_files
from vega_lab.multimodal.image import tiny_yolo
from vega_lab.multimodal.image.ultralytics_setup import import_ultralytics, torch_threads

if TYPE_CHECKING:
    from PIL import Image

__all__ = [
    "Detection",
    "Detector",
    "detect_folder",
    "draw_detections",
    "import_ultralytics",
    "load_detector",
    "torch_threads",
]

_HINT = (
    "set VEGA_YOLO_MODEL (or pass spec) to the path of a YOLO .pt file on disk (download it "
    "once on a machine with internet); unset it to use the tiny shapes YOLO trained here"
)
_TASKS_WITH_BOXES = {"detect", "segment", "pose"}
# (R, G, B) per class id, cycled; saturated colours that stand out on photos and shapes alike
_PALETTE = ((255, 56, 56), (0, 160, 255), (20, 200, 90), (255, 160, 0), (200, 0, 255), (0, 0, 0))


@dataclass(frozen=True)
class Detection:
    """One detected object; ``box`` is (x0, y0, x1, y1) in pixels of the input image."""

    label: str
    class_id: int
    confidence: float
    box: tuple[float, float, float, float]


class Detector:
    """A loaded YOLO model; ``detect`` turns images into ``Detection`` lists."""

    def __init__(
        self, model: Any, weights: Path, *, device: str | None = None, threads: int | None = None
    ) -> None:
        self.model = model
        self.weights = weights
        self.device = device
        self.threads = threads
        self.names: dict[int, str] = {int(k): str(v) for k, v in model.names.items()}

    def __repr__(self) -> str:
        return f"Detector({self.weights.name}, {len(self.names)} classes)"

    def detect(
        self,
        images: Image.Image | str | Path | Sequence[Image.Image | str | Path],
        conf: float = 0.25,
        iou: float = 0.7,
        imgsz: int | None = None,
        batch_size: int = 16,
    ) -> list[list[Detection]]:
        """Detections per image (one list per input, also for a single image).

        ``imgsz=None`` uses the size the weights were trained at (kept in the .pt): the tiny
        model sees its 96-pixel world, a COCO model its 640. Paths go through ``load_image``,
        so a corrupt file raises ``ImageError`` naming it.
        """
        from PIL import Image

        single = isinstance(images, (str, Path, Image.Image))
        items = [images] if single else list(images)  # type: ignore[list-item]
        if not 0 <= conf <= 1 or not 0 <= iou <= 1:
            raise ImageError(f"conf and iou must be in [0, 1], got {conf} and {iou}")
        from vega_lab.multimodal.image.io import as_rgb

        pil = [as_rgb(x, "detect objects in") for x in items]
        out: list[list[Detection]] = []
        kw: dict[str, Any] = {"conf": conf, "iou": iou, "verbose": False}
        if imgsz is not None:
            kw["imgsz"] = imgsz
        if self.device is not None:
            kw["device"] = self.device
        step = max(1, batch_size)
        with torch_threads(self.threads):
            for i in range(0, len(pil), step):
                for res in self.model.predict(pil[i : i + step], **kw):
                    out.append(self._convert(res))
        return out

    def _convert(self, res: Any) -> list[Detection]:
        boxes = res.boxes
        if boxes is None or len(boxes) == 0:
            return []
        xyxy = boxes.xyxy.cpu().tolist()
        cls = boxes.cls.cpu().tolist()
        confs = boxes.conf.cpu().tolist()
        dets = [
            Detection(
                label=self.names.get(int(c), str(int(c))),
                class_id=int(c),
                confidence=float(p),
                box=(float(b[0]), float(b[1]), float(b[2]), float(b[3])),
            )
            for b, c, p in zip(xyxy, cls, confs, strict=True)
        ]
        return sorted(dets, key=lambda d: -d.confidence)


def _resolve(spec: str | Path | None) -> Path:
    """The weights file for ``spec``: a .pt on disk; None -> settings -> the tiny shapes YOLO."""
    from vega_lab.config import get_settings

    if spec is None or (isinstance(spec, str) and not spec.strip()):
        spec = get_settings().yolo_model
        if not spec:
            return tiny_yolo.ensure_tiny_yolo()
    path = Path(spec).expanduser()
    if path.suffix.lower() != ".pt":
        raise ModelWeightsError(
            f"YOLO weights must be a .pt file, got {str(spec)!r}",
            _HINT + " (export other formats back to .pt with ultralytics)",
        )
    if not path.is_file():
        bare = len(path.parts) == 1
        why = (
            " (a bare name is what ultralytics would download; this workbench never downloads)"
            if bare
            else ""
        )
        raise ModelWeightsError(f"YOLO weights {str(spec)!r} not found{why}", _HINT)
    return path.resolve()


def load_detector(
    spec: str | Path | None = None, *, device: str | None = None, threads: int | None = None
) -> Detector:
    """Load a YOLO detector from a ``.pt`` path (None: ``VEGA_YOLO_MODEL``, else the tiny one).

    Never downloads. ``threads`` sets torch's CPU threads while detecting (None: ultralytics'
    default); ``device`` e.g. "cpu" or "0" (None: ultralytics picks, a GPU when present).
    """
    path = _resolve(spec)
    ultralytics = import_ultralytics()
    try:
        model = ultralytics.YOLO(str(path))
    except Exception as exc:  # any unpickling/format failure means unusable weights
        raise ModelWeightsError(
            f"cannot load YOLO weights {path}: {type(exc).__name__}: {exc}", _HINT
        ) from exc
    if model.task not in _TASKS_WITH_BOXES:
        raise ModelWeightsError(
            f"{path} is a YOLO {model.task} model, which predicts no boxes",
            "pass detection (or segmentation/pose) weights",
        )
    return Detector(model, path, device=device, threads=threads)


def _font(size: int) -> Any:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)  # Pillow's bundled font: nothing to download
    except TypeError:  # Pillow < 10.1 has one fixed-size bitmap font
        return ImageFont.load_default()


def draw_detections(img: Image.Image, detections: Sequence[Detection]) -> Image.Image:
    """A copy of ``img`` with each box outlined and labelled "label 0.93" (the input is kept)."""
    from PIL import ImageDraw

    out = img.convert("RGB") if img.mode != "RGB" else img.copy()
    draw = ImageDraw.Draw(out)
    width = max(1, round(min(out.size) / 160))
    font = _font(max(8, round(min(out.size) / 16)))
    for det in detections:
        color = _PALETTE[det.class_id % len(_PALETTE)]
        x0, y0, x1, y1 = det.box
        draw.rectangle((x0, y0, x1, y1), outline=color, width=width)
        text = f"{det.label} {det.confidence:.2f}"
        tx0, ty0, tx1, ty1 = draw.textbbox((0, 0), text, font=font)
        tw, th = tx1 - tx0, ty1 - ty0
        ty = y0 - th - 2 if y0 - th - 2 >= 0 else y0  # above the box, or inside at the top
        draw.rectangle((x0, ty, x0 + tw + 2, ty + th + 2), fill=color)
        draw.text((x0 + 1 - tx0, ty + 1 - ty0), text, fill=(255, 255, 255), font=font)
    return out


def detect_folder(
    folder: str | Path,
    detector: Detector | None = None,
    *,
    conf: float = 0.25,
    iou: float = 0.7,
    imgsz: int | None = None,
    batch_size: int = 16,
) -> BatchResult[list[Detection]]:
    """Detections for every image under ``folder``; unreadable files are skipped with a reason.

    Images are loaded one by one (a bad file costs only itself) and detected in batches.
    """
    from vega_lab.multimodal.image.io import IMAGE_SUFFIXES, load_image

    detector = detector or load_detector()
    paths = iter_files(folder, IMAGE_SUFFIXES)
    result: BatchResult[list[Detection]] = BatchResult()
    step = max(1, batch_size)
    for i in range(0, len(paths), step):
        loaded = process_files(paths[i : i + step], load_image)
        result.skipped += loaded.skipped
        if not loaded.items:
            continue
        dets = detector.detect(
            [img for _, img in loaded.items], conf=conf, iou=iou, imgsz=imgsz, batch_size=step
        )
        result.items += [(p, d) for (p, _), d in zip(loaded.items, dets, strict=True)]
    return result
