"""The one door to ultralytics: set up so that nothing it does reaches for the network.

``detect`` (inference) and ``tiny_yolo`` (training) both go through it, so neither imports the
other for it: ``detect`` -> ``tiny_yolo`` -> this module.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

__all__ = ["import_ultralytics", "torch_threads"]

# ultralytics' integrations: off, so no logger writes to ./runs or calls a server
_OFF = ("sync", "clearml", "comet", "dvc", "mlflow", "raytune", "tensorboard", "wandb")


def import_ultralytics() -> Any:
    """The ``ultralytics`` module, set up so that nothing it does reaches for the network.

    Its settings folder (``YOLO_CONFIG_DIR``) must be chosen before the first import, and
    ``check_det_dataset`` looks for ``Arial.ttf`` there on every training run, downloading it
    when missing: matplotlib's DejaVuSans (an ultralytics dependency) is placed under that name.
    """
    from vega_lab.config import get_settings

    settings = get_settings()
    os.environ.setdefault("YOLO_CONFIG_DIR", str(settings.models_path / "ultralytics"))
    if settings.offline:
        os.environ.setdefault("YOLO_OFFLINE", "1")  # skips the DNS probe at import
    os.environ.setdefault("YOLO_AUTOINSTALL", "false")  # never pip-install at run time
    os.environ.setdefault("YOLO_VERBOSE", "false")  # progress bars would flood notebook outputs
    import ultralytics
    from ultralytics.utils import SETTINGS, USER_CONFIG_DIR

    known = getattr(SETTINGS, "defaults", SETTINGS)
    off = {k: False for k in _OFF if k in known and SETTINGS.get(k) is not False}
    if off:
        SETTINGS.update(off)
    _unpatch_pil()
    font = Path(USER_CONFIG_DIR) / "Arial.ttf"
    if not font.is_file():
        import matplotlib

        src = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
        tmp = font.with_name(f".{font.name}.{os.getpid()}")
        shutil.copyfile(src, tmp)
        os.replace(tmp, font)  # atomic: a concurrent reader never sees half a font
    return ultralytics


def _unpatch_pil() -> None:
    """Give ``PIL.Image.open`` back to Pillow.

    Importing ultralytics replaces it process-wide with a wrapper that, on any file Pillow
    cannot identify, tries to pip-install pi-heif and then raises ModuleNotFoundError: every
    other image loader in the process (``image.io`` included) would stop reporting a non-image
    as an ImageError. We hand ultralytics decoded PIL images, so its HEIF hook is not needed.
    """
    from PIL import Image
    from ultralytics.utils import patches

    original = getattr(patches, "_image_open", None)
    if original is not None and Image.open is getattr(patches, "image_open", None):
        Image.open = original


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run ultralytics with ``n`` torch threads (None: leave as is), restored afterwards.

    ultralytics resets torch's thread count to its own ``NUM_THREADS`` (up to 8) whenever it
    selects a CPU device, so the module constant is set too: on a shared 2-core machine more
    threads than cores only slows everything down.
    """
    if not n:
        yield
        return
    from vega_lab.models.threads import torch_threads as base_torch_threads

    import_ultralytics()  # never the first, unconfigured import
    from ultralytics.utils import torch_utils

    constant = torch_utils.NUM_THREADS
    torch_utils.NUM_THREADS = n
    try:
        with base_torch_threads(n):
            yield
    finally:
        torch_utils.NUM_THREADS = constant
