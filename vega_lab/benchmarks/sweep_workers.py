"""What warm kernels save a local sweep: the same 4-run sweep of the baseline notebook with
``isolation: fresh`` (a new interpreter per run) and ``isolation: warm`` (kernels forked from a
pre-imported template), alternated, medians reported.

Per-run overhead = a run's wall time (kernel start, notebook, shutdown: the run's recorded
``duration_s``) minus the work itself, taken as the time its cells take in a warm run (where the
imports are already done). So a fresh run's overhead includes its kernel start and imports; a warm
run's, the fork, papermill and shutdown. A sweep's time is the whole ``run_sweep`` call
(planning, the warm template's start, the runs, their kernels shut down; no report).
CPU seconds per sweep (all processes) are reported too: on a shared machine they move less.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

SPEC = """\
name: bench_{isolation}
notebook: {notebook}
isolation: {isolation}
parameters: {{dataset: digits, epochs: {epochs}, batch_size: 32}}
grid: {{lr: [0.05, 0.1, 0.2, 0.5]}}
seeds: [0]
"""
MODES = ("fresh", "warm")


def _cells_s(output_path: str) -> float:
    """Seconds the executed notebook's cells took, as papermill recorded them."""
    import nbformat

    nb = nbformat.read(output_path, as_version=4)
    return sum(
        float(c.metadata.get("papermill", {}).get("duration") or 0.0)
        for c in nb.cells
        if c.cell_type == "code"
    )


def bench_sweep_isolation(workers: int = 2, repeats: int = 3, epochs: int = 5) -> dict[str, Any]:
    """Sweep wall times (driver's view) and per-run overheads, fresh vs warm."""
    from vega_lab.config import get_settings
    from vega_lab.experiments import open_store, run_sweep

    settings = get_settings()
    notebook = settings.home / "experiments" / "centralized_baseline.ipynb"
    sweeps: dict[str, list[float]] = {m: [] for m in MODES}
    cpus: dict[str, list[float]] = {m: [] for m in MODES}
    runs: dict[str, list[tuple[float, float, float]]] = {m: [] for m in MODES}  # lr, dur, cells
    finals: dict[str, dict[float, dict[str, float]]] = {m: {} for m in MODES}
    differences: list[float] = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="vega-bench-") as tmp:
        iso = settings.model_copy(
            update={
                "results_url": str(Path(tmp) / "r.sqlite"),
                "reports_dir": Path(tmp) / "reports",
            }
        )
        for i in range(repeats):
            for mode in MODES if i % 2 == 0 else MODES[::-1]:
                spec = Path(tmp) / f"bench_{mode}.yaml"
                spec.write_text(SPEC.format(notebook=notebook, epochs=epochs, isolation=mode))
                cpu, wall = _cpu_s(), time.perf_counter()
                res = run_sweep(
                    spec, workers=workers, rerun=True, report=False, progress=False, settings=iso
                )
                wall, cpu = time.perf_counter() - wall, _cpu_s() - cpu
                cpus[mode].append(cpu)
                if res.failed:
                    raise RuntimeError(f"benchmark run failed: {res.failed[0].error_message}")
                sweeps[mode].append(wall)
                store = open_store(iso.results_db_url)
                for r in res.results:
                    lr = float(store.get_run(r.run_id).parameters["lr"])
                    runs[mode].append((lr, r.duration_s, _cells_s(r.output_path)))
                    m = store.metrics_frame(run_ids=[r.run_id], kind="final")
                    values = dict(zip(m["name"], m["value"].astype(float), strict=True))
                    for other in finals.values():
                        if lr in other:
                            differences += [abs(values[k] - other[lr][k]) for k in values]
                    finals[mode][lr] = values
        template_s = _template_start_s(iso)
    load_after = os.getloadavg()
    work = {
        lr: statistics.median(c for lr2, _, c in runs["warm"] if lr2 == lr)
        for lr in {lr for lr, _, _ in runs["warm"]}
    }
    over = {m: statistics.median(d - work[lr] for lr, d, _ in runs[m]) for m in MODES}
    sweep = {m: statistics.median(sweeps[m]) for m in MODES}
    return {
        "runs": 4,
        "epochs": epochs,
        "repeats": repeats,
        "workers": workers,
        "fresh_overhead_s": round(over["fresh"], 2),
        "warm_overhead_s": round(over["warm"], 2),
        "fresh_sweep_s": round(sweep["fresh"], 2),
        "warm_sweep_s": round(sweep["warm"], 2),
        "speedup": round(sweep["fresh"] / sweep["warm"], 2),
        "fresh_cpu_s": round(statistics.median(cpus["fresh"]), 1),
        "warm_cpu_s": round(statistics.median(cpus["warm"]), 1),
        "fresh_run_s": round(statistics.median(d for _, d, _ in runs["fresh"]), 2),
        "warm_run_s": round(statistics.median(d for _, d, _ in runs["warm"]), 2),
        "fresh_cells_s": round(statistics.median(c for _, _, c in runs["fresh"]), 2),
        "warm_cells_s": round(statistics.median(c for _, _, c in runs["warm"]), 2),
        "template_start_s": round(template_s, 2),
        "same_results": max(differences, default=0.0) == 0.0,
        "max_metric_difference": max(differences, default=0.0),
        "all_sweep_s": {m: [round(t, 2) for t in v] for m, v in sweeps.items()},
        "load_avg_1min": [round(load_before[0], 2), round(load_after[0], 2)],
        "cpus": os.cpu_count(),
    }


def _cpu_s() -> float:
    """CPU seconds of this process and every process it (or they) started and reaped: the
    sweep's work, which other load on a shared machine inflates far less than wall time."""
    import resource

    own, kids = (resource.getrusage(w) for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _template_start_s(settings: Any) -> float:
    """One template start with the default preload, alone (the warm sweep pays it once)."""
    from vega_lab.experiments.runner import plan_run
    from vega_lab.experiments.warm_pool import WarmPool

    _, task = plan_run(
        settings.home / "experiments" / "centralized_baseline.ipynb", {}, settings=settings
    )
    pool = WarmPool()
    start = time.perf_counter()
    try:
        pool.template(task)
        return time.perf_counter() - start
    finally:
        pool.close()
