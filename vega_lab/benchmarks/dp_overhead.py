"""`vega-lab bench dp-overhead`: what DP-SGD costs per epoch, for each Opacus grad-sample mode.

One workload (a shipped dataset, the 64-32 MLP, batch 64 with Poisson sampling, sigma 1.0, C 1.0,
SGD lr 0.1 momentum 0.9, one seed) trained for one epoch without DP and with DP-SGD in each mode,
in one process. Only the epoch's training loop is timed (`DPEpochRecord.seconds`): not the data
split, the model build, `make_private`, the evaluation or the accountant. An untimed warm-up per
variant pays one-time costs (lazy imports, functorch tracing); the timed repeats then alternate
between variants so drift in the machine's speed hits them all alike. Ratio = DP / non-private.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from vega_lab.privacy.config import GRAD_SAMPLE_MODES, DPTrainingConfig
from vega_lab.privacy.training import train_private
from vega_lab.registry import check_name

BASELINE = "non-private"


def workload(
    dataset: str, *, batch_size: int = 64, threads: int = 1, seed: int = 0
) -> DPTrainingConfig:
    return DPTrainingConfig(
        dataset=dataset,
        epochs=1,
        batch_size=batch_size,
        noise_multiplier=1.0,
        max_grad_norm=1.0,
        threads=threads,
        seed=seed,
    )


def _variant(config: DPTrainingConfig, name: str) -> DPTrainingConfig:
    if name == BASELINE:
        return config.baseline()
    return config.model_copy(update={"grad_sample_mode": name})


def bench_dataset(
    dataset: str,
    modes: Sequence[str] = GRAD_SAMPLE_MODES,
    repeats: int = 5,
    batch_size: int = 64,
    threads: int = 1,
) -> dict[str, Any]:
    """Median epoch seconds per variant and each mode's ratio to the non-private epoch."""
    config = workload(dataset, batch_size=batch_size, threads=threads)
    names = [BASELINE, *modes]
    first = {n: train_private(_variant(config, n)) for n in names}  # warm-up, untimed
    times: dict[str, list[float]] = {n: [] for n in names}
    for _ in range(repeats):
        for n in names:
            times[n].append(train_private(_variant(config, n)).history[0].seconds)
    base_s = statistics.median(times[BASELINE])
    variants = {
        n: {
            "epoch_s": statistics.median(times[n]),
            "ratio": statistics.median(times[n]) / base_s,
            "all_s": times[n],
            "accuracy": first[n].final_accuracy,
        }
        for n in names
    }
    ref = first[BASELINE]
    return {
        "dataset": dataset,
        "steps_per_epoch": ref.steps,
        "sample_rate": ref.sample_rate,
        "batch_size": batch_size,
        "hidden": list(config.hidden),
        "epsilon_after_epoch": next(
            (first[m].final_epsilon for m in modes), None
        ),  # the same for every mode: accounting does not depend on how gradients are computed
        "variants": variants,
    }


def bench_dp_overhead(
    datasets: Sequence[str] = ("digits",),
    modes: Sequence[str] = GRAD_SAMPLE_MODES,
    repeats: int = 5,
    batch_size: int = 64,
    threads: int = 1,
) -> dict[str, Any]:
    for m in modes:
        check_name(m, GRAD_SAMPLE_MODES, "grad-sample mode")
    results = [bench_dataset(d, modes, repeats, batch_size, threads) for d in datasets]
    return {
        "repeats": repeats,
        "threads": threads,
        "modes": list(modes),
        "results": results,
        "ratios": {r["dataset"]: {m: r["variants"][m]["ratio"] for m in modes} for r in results},
    }
