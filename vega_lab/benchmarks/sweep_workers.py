"""How much a local sweep gains from parallel workers: the same 4-run sweep of the baseline
notebook with 1 worker and with N workers, alternated, medians reported."""

from __future__ import annotations

import statistics
import tempfile
from pathlib import Path
from typing import Any

SPEC = """\
name: bench_workers
notebook: {notebook}
parameters: {{dataset: digits, epochs: {epochs}, batch_size: 32}}
grid: {{lr: [0.05, 0.1, 0.2, 0.5]}}
seeds: [0]
"""


def bench_sweep_workers(workers: int = 2, repeats: int = 3, epochs: int = 5) -> dict[str, Any]:
    """Wall time of the sweep (driver's view: kernels started, notebooks run, store written)."""
    from vega_lab.config import get_settings
    from vega_lab.experiments import run_sweep

    settings = get_settings()
    notebook = settings.home / "experiments" / "centralized_baseline.ipynb"
    times: dict[int, list[float]] = {1: [], workers: []}
    with tempfile.TemporaryDirectory(prefix="vega-bench-") as tmp:
        spec = Path(tmp) / "bench.yaml"
        spec.write_text(SPEC.format(notebook=notebook, epochs=epochs))
        iso = settings.model_copy(
            update={
                "results_url": str(Path(tmp) / "r.sqlite"),
                "reports_dir": Path(tmp) / "reports",
            }
        )
        for i in range(repeats):
            order = (1, workers) if i % 2 == 0 else (workers, 1)
            for w in order:
                res = run_sweep(
                    spec, workers=w, rerun=True, report=False, progress=False, settings=iso
                )
                if res.failed:
                    raise RuntimeError(f"benchmark run failed: {res.failed[0].error_message}")
                times[w].append(res.wall_s)
    one, many = statistics.median(times[1]), statistics.median(times[workers])
    return {
        "runs": 4,
        "epochs": epochs,
        "repeats": repeats,
        "workers": workers,
        "workers1_s": round(one, 2),
        f"workers{workers}_s": round(many, 2),
        "speedup": round(one / many, 3),
        "all_s": {str(k): [round(t, 2) for t in v] for k, v in times.items()},
    }
