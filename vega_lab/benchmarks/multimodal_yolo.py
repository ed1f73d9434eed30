"""Detection through vega_lab vs ultralytics' ``model.predict`` called directly, in one process.

Quality: the cached tiny shapes YOLO's mAP50 and mAP50-95 on its held-out generated validation
set, read from the ``metrics.json`` written beside ``best.pt`` at training time (no retraining).
Speed: the same held-out images (PIL, already decoded) detected ``rounds`` times both ways, in
the same batches and with the same torch thread count, interleaved round by round (order
alternated) so machine noise hits both alike. Images per second = images / wall time of the
call; ``overhead`` is the median over rounds of (vega time / direct time) - 1, i.e. the cost of
converting ultralytics' results into ``Detection`` objects.
"""

from __future__ import annotations

import statistics
import time
from typing import Any


def bench_yolo(
    n_images: int = 64, rounds: int = 5, batch_size: int = 16, threads: int = 1
) -> dict[str, Any]:
    from vega_lab.multimodal.image.detect import import_ultralytics, load_detector, torch_threads
    from vega_lab.multimodal.image.tiny_yolo import TinyYoloResult, ensure_tiny_yolo, scenes

    weights = ensure_tiny_yolo()
    trained = TinyYoloResult.load(weights)
    images = [s.image for s in scenes(trained.config, "val", n_images)]
    ours = load_detector(weights, threads=threads)
    direct = import_ultralytics().YOLO(str(weights))

    def run_direct() -> int:
        with torch_threads(threads):
            found = 0
            for i in range(0, len(images), batch_size):
                for res in direct.predict(images[i : i + batch_size], verbose=False):
                    found += len(res.boxes)
            return found

    def run_ours() -> int:
        return sum(len(d) for d in ours.detect(images, batch_size=batch_size))

    same = run_ours() == run_direct()  # warm-up; both paths should find the same boxes
    t_ours: list[float] = []
    t_direct: list[float] = []
    for r in range(rounds):
        pair = [(run_ours, t_ours), (run_direct, t_direct)]
        for fn, times in pair if r % 2 == 0 else pair[::-1]:
            t0 = time.perf_counter()
            fn()
            times.append(time.perf_counter() - t0)
    return {
        "model": str(weights),
        "config": trained.config.key(),
        "map50": trained.metrics["map50"],
        "map50_95": trained.metrics["map50_95"],
        "images": n_images,
        "imgsz": trained.config.imgsz,
        "batch_size": batch_size,
        "threads": threads,
        "rounds": rounds,
        "same_box_count": same,
        "vega_images_per_s": n_images / statistics.median(t_ours),
        "direct_images_per_s": n_images / statistics.median(t_direct),
        "overhead": statistics.median(o / d for o, d in zip(t_ours, t_direct, strict=True)) - 1,
        "all": {"vega_s": t_ours, "direct_s": t_direct},
    }
