"""The tiny shapes YOLO: an ultralytics detector trained here, on CPU, on rendered shapes.

No COCO weights ship offline, so the detection pipeline is exercised with a model trained from
scratch on ``shapes.render_scene`` images (1-3 shapes on a textured background), the shape being
the class: circle, square, triangle, star. The network is a shipped ultralytics architecture
(``yolov8n.yaml``: no weights are loaded), trained by ultralytics' own trainer and saved as its
own ``best.pt``, so it loads through ``load_detector`` exactly like downloaded weights.

Training is made offline-safe by ``ultralytics_setup.import_ultralytics`` and by the arguments:
``plots=False`` (plotting fetches Arial.ttf), ``amp=False`` (the AMP check fetches yolov8n.pt),
``workers=0``, the run directory inside our own folder (never ./runs). mAP50 and mAP50-95 come
from ultralytics' validator on a held-out generated set, rendered from another seed stream.
``ensure_tiny_yolo`` caches ``best.pt`` with ``metrics.json`` and ``results.csv`` under
``models_path/tiny_yolo/<config key>``, so reports and benchmarks need no retraining.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vega_lab.errors import TrainingError
from vega_lab.multimodal.image.shapes import SHAPES, Scene, render_scene
from vega_lab.multimodal.image.ultralytics_setup import import_ultralytics, torch_threads
from vega_lab.multimodal.model_cache import cached_folder

if TYPE_CHECKING:
    from vega_lab.experiments.tracking import Run

__all__ = [
    "TinyYoloConfig",
    "TinyYoloResult",
    "ensure_tiny_yolo",
    "read_results_csv",
    "scenes",
    "train_tiny_yolo",
    "write_dataset",
]

_FORMAT = 1  # bump when the recipe below or the cache layout changes: old caches are not reused
WEIGHTS_FILE = "best.pt"
METRICS_FILE = "metrics.json"
RESULTS_FILE = "results.csv"
# The fixed part of the recipe. Synthetic data is unlimited, so mosaic is off (more rendered
# images beat augmentation); one warmup epoch, not three, leaves short runs time to learn.
_RECIPE: dict[str, Any] = {
    "optimizer": "AdamW",
    "warmup_epochs": 1.0,
    "mosaic": 0.0,
    "close_mosaic": 0,
    "flipud": 0.0,  # a triangle upside down is not a triangle in our data
}


@dataclass(frozen=True)
class TinyYoloConfig:
    """What to render and how long to train. The defaults are the small shared model that
    ``load_detector()`` falls back to: about 70 s of one CPU thread, mAP50 ~0.98."""

    n_train: int = 400
    n_val: int = 64
    imgsz: int = 96
    epochs: int = 15
    batch: int = 16
    seed: int = 0
    arch: str = "yolov8n.yaml"
    lr0: float = 0.004
    max_objects: int = 3
    val_each_epoch: bool = False  # True: mAP per epoch (and best.pt picked on the val set)

    def __post_init__(self) -> None:
        sizes = ("n_train", "n_val", "epochs", "batch", "max_objects")
        bad = [k for k in sizes if getattr(self, k) < 1]
        if bad or self.lr0 <= 0:
            raise TrainingError(
                f"invalid TinyYoloConfig ({', '.join(bad) or 'lr0'})",
                "sizes, epochs and lr0 must be positive",
            )
        if self.imgsz < 32 or self.imgsz % 32:
            raise TrainingError(
                f"imgsz must be a multiple of 32 (YOLO's largest stride), got {self.imgsz}",
                "e.g. 96, 128 or 160",
            )
        if not self.arch.endswith((".yaml", ".yml")):
            raise TrainingError(
                f"arch must be an architecture YAML, got {self.arch!r} (a .pt name would download)",
                "use one shipped with ultralytics, e.g. yolov8n.yaml or yolo11n.yaml",
            )

    def key(self) -> str:
        blob = json.dumps({"format": _FORMAT, **asdict(self), **_RECIPE}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]


def scenes(config: TinyYoloConfig, split: str, n: int | None = None) -> Iterator[Scene]:
    """The generated scenes of ``split`` ("train" or "val"): separate seed streams, so the
    validation images are never trained on; the first ``n`` (default: the config's count)."""
    count = n if n is not None else (config.n_train if split == "train" else config.n_val)
    rng = random.Random(f"tiny-yolo:{split}:{config.seed}")
    for _ in range(count):
        k = rng.randint(1, config.max_objects)
        yield render_scene(rng, size=config.imgsz, n_objects=k)


def _label_line(shape: str, box: tuple[int, int, int, int], size: int) -> str:
    """YOLO format: class, then centre and size normalized to the image."""
    x0, y0, x1, y1 = box
    cx, cy, w, h = (x0 + x1) / 2 / size, (y0 + y1) / 2 / size, (x1 - x0) / size, (y1 - y0) / size
    return f"{SHAPES.index(shape)} {cx:.6f} {cy:.6f} {w:.6f} {h:.6f}"


def write_dataset(folder: str | Path, config: TinyYoloConfig) -> Path:
    """Write images/{train,val}, labels/{train,val} and data.yaml; returns the data.yaml path."""
    root = Path(folder).resolve()
    for split in ("train", "val"):
        images, labels = root / "images" / split, root / "labels" / split
        images.mkdir(parents=True, exist_ok=True)
        labels.mkdir(parents=True, exist_ok=True)
        for i, scene in enumerate(scenes(config, split)):
            scene.image.save(images / f"{i:05d}.png")
            lines = [_label_line(o.shape, o.box, config.imgsz) for o in scene.objects]
            (labels / f"{i:05d}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    names = "".join(f"  {i}: {name}\n" for i, name in enumerate(SHAPES))
    data = root / "data.yaml"
    data.write_text(
        f"path: {json.dumps(str(root))}\ntrain: images/train\nval: images/val\nnames:\n{names}",
        encoding="utf-8",
    )
    return data


_METRIC_PREFIXES = ("map", "precision", "recall", "val_")


def _clean_key(column: str) -> str:
    """'metrics/mAP50-95(B)' -> 'map50_95', 'train/box_loss' -> 'train_box_loss', 'time'
    (seconds since the start) -> 'elapsed_s'."""
    key = column.strip().replace("metrics/", "").replace("(B)", "").lower()
    return "elapsed_s" if key == "time" else key.replace("/", "_").replace("-", "_")


def read_results_csv(path: str | Path, validated_only_last: bool = False) -> list[dict[str, float]]:
    """ultralytics' per-epoch ``results.csv`` as rows of floats with plain keys (``epoch``,
    ``train_box_loss``, ``map50``...). ``validated_only_last`` drops the metric columns of the
    epochs that were not validated (ultralytics writes zeros there)."""
    p = Path(path)
    try:
        with p.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise TrainingError(f"cannot read {p}: {exc}", "retrain: ensure_tiny_yolo()") from exc
    out = []
    for i, row in enumerate(rows):
        values = {_clean_key(k): float(v) for k, v in row.items() if k and v not in (None, "")}
        if validated_only_last and i < len(rows) - 1:
            values = {k: v for k, v in values.items() if not k.startswith(_METRIC_PREFIXES)}
        out.append(values)
    return out


@dataclass
class TinyYoloResult:
    """A trained tiny YOLO: held-out metrics, per-class AP50, per-epoch history, weights path."""

    config: TinyYoloConfig
    weights: Path
    metrics: dict[str, float]
    per_class_ap50: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)

    def info(self) -> dict[str, Any]:
        """What ``metrics.json`` keeps beside the weights (the history is ``results.csv``)."""
        return {
            "format": _FORMAT,
            "config": asdict(self.config),
            "metrics": self.metrics,
            "per_class_ap50": self.per_class_ap50,
            "versions": _versions(),  # provenance: other versions train slightly other weights
        }

    @classmethod
    def load(cls, weights: str | Path) -> TinyYoloResult:
        """Read the result saved beside ``weights`` (a best.pt or its folder), no retraining."""
        p = Path(weights)
        folder = p if p.is_dir() else p.parent
        try:
            info = json.loads((folder / METRICS_FILE).read_text(encoding="utf-8"))
            config = TinyYoloConfig(**info["config"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise TrainingError(
                f"no readable tiny YOLO metrics in {folder}: {exc}", "retrain: ensure_tiny_yolo()"
            ) from exc
        history = read_results_csv(
            folder / RESULTS_FILE, validated_only_last=not config.val_each_epoch
        )
        return cls(config, folder / WEIGHTS_FILE, info["metrics"], info["per_class_ap50"], history)

    def log_to(self, run: Run) -> None:
        """Per-epoch losses (and mAP where validated) as steps, held-out metrics as finals."""
        for row in self.history:
            values = {k: v for k, v in row.items() if k != "epoch"}
            run.log(step=int(row.get("epoch", 0)), **values)
        finals = {**self.metrics, **{f"ap50_{k}": v for k, v in self.per_class_ap50.items()}}
        run.log_final(**finals)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for dist in ("ultralytics", "torch", "opencv-python-headless", "numpy", "pillow"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            continue
    return out


@contextmanager
def _keep_global_state() -> Iterator[None]:
    """ultralytics reseeds the global RNGs and toggles torch's deterministic mode for everyone
    in the process; put them back so training does not change what the caller's code does."""
    import numpy as np
    import torch

    py, npy, tch = random.getstate(), np.random.get_state(), torch.get_rng_state()
    det = torch.are_deterministic_algorithms_enabled()
    warn = torch.is_deterministic_algorithms_warn_only_enabled()
    cudnn = torch.backends.cudnn.deterministic
    fill = torch.utils.deterministic.fill_uninitialized_memory
    env = {k: os.environ.get(k) for k in ("CUBLAS_WORKSPACE_CONFIG", "PYTHONHASHSEED")}
    try:
        yield
    finally:
        random.setstate(py)
        np.random.set_state(npy)
        torch.set_rng_state(tch)
        torch.use_deterministic_algorithms(det, warn_only=warn)
        torch.backends.cudnn.deterministic = cudnn
        torch.utils.deterministic.fill_uninitialized_memory = fill
        for k, v in env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _metrics(res: Any, seconds: float) -> tuple[dict[str, float], dict[str, float]]:
    box = res.box
    metrics = {
        "map50": float(box.map50),
        "map50_95": float(box.map),
        "precision": float(box.mp),
        "recall": float(box.mr),
        "train_seconds": round(seconds, 2),
    }
    per_class = {
        SHAPES[int(c)]: float(ap) for c, ap in zip(res.ap_class_index, box.ap50, strict=True)
    }
    return metrics, per_class


def train_tiny_yolo(
    config: TinyYoloConfig | None = None,
    run: Run | None = None,
    *,
    out_dir: str | Path | None = None,
    threads: int = 1,
) -> TinyYoloResult:
    """Render the data, train with ultralytics on CPU, validate on the held-out set.

    ``out_dir`` (default: a new temp folder) receives ``best.pt``, ``metrics.json`` and
    ``results.csv``; the dataset and ultralytics' run folder are removed afterwards. ``threads``
    torch threads (1 is fastest for a model this small on a shared CPU). With ``run``, the
    per-epoch history and the final metrics are logged to it.
    """
    config = config or TinyYoloConfig()
    out = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="vega-tiny-yolo-"))
    out.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".work-", dir=out))
    try:
        ultralytics = import_ultralytics()
        data = write_dataset(work / "dataset", config)
        with torch_threads(threads), _keep_global_state():
            try:
                model = ultralytics.YOLO(config.arch)
            except Exception as exc:  # unknown or malformed YAML
                raise TrainingError(
                    f"cannot build a YOLO from {config.arch!r}: {exc}",
                    "use an architecture YAML shipped with ultralytics, e.g. yolov8n.yaml",
                ) from exc
            t0 = time.perf_counter()
            res = model.train(
                data=str(data),
                imgsz=config.imgsz,
                epochs=config.epochs,
                batch=config.batch,
                lr0=config.lr0,
                seed=config.seed,
                deterministic=True,
                pretrained=False,
                device="cpu",
                workers=0,
                amp=False,
                plots=False,
                val=config.val_each_epoch,
                project=str(work),
                name="run",
                exist_ok=True,
                verbose=False,
                **_RECIPE,
            )
            seconds = time.perf_counter() - t0
        run_dir = Path(model.trainer.save_dir)
        shutil.copyfile(run_dir / "weights" / WEIGHTS_FILE, out / WEIGHTS_FILE)
        shutil.copyfile(run_dir / RESULTS_FILE, out / RESULTS_FILE)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    metrics, per_class = _metrics(res, seconds)
    history = read_results_csv(out / RESULTS_FILE, validated_only_last=not config.val_each_epoch)
    result = TinyYoloResult(config, out / WEIGHTS_FILE, metrics, per_class, history)
    (out / METRICS_FILE).write_text(json.dumps(result.info(), indent=2), encoding="utf-8")
    if run is not None:
        result.log_to(run)
    return result


def ensure_tiny_yolo(config: TinyYoloConfig | None = None, *, threads: int = 1) -> Path:
    """``best.pt`` of the cached model for ``config`` (default: the small shared one), trained
    if missing. Trains into a temp folder renamed into place: a killed run leaves no half cache."""
    from vega_lab.config import get_settings

    config = config or TinyYoloConfig()
    root = get_settings().models_path / "tiny_yolo"

    def build(tmp: Path) -> None:
        train_tiny_yolo(config, out_dir=tmp, threads=threads)

    return cached_folder(root, config.key(), (WEIGHTS_FILE, METRICS_FILE), build) / WEIGHTS_FILE
