"""`vega-lab bench federated`: the same FedAvg workload (digits, 64-32-10 MLP, 5 local epochs,
lr 0.1, batch 32, full participation, one IID partition and seed) through vega_lab's vectorized
engine and through Flower's Ray simulation, in one process; plus the cost of the same number of
per-sample gradient steps as plain centralized mini-batch SGD (`compute_fraction`)."""

from __future__ import annotations

import statistics
import time
from typing import Any

import torch

from vega_lab.benchmarks.flower_fedavg import plain_sgd
from vega_lab.federated import FederatedConfig, simulate
from vega_lab.federated.data import build_data
from vega_lab.federated.simulation import default_module


def workload(clients: int, rounds: int, seed: int = 0) -> FederatedConfig:
    return FederatedConfig(
        dataset="digits",
        partition="iid",
        num_clients=clients,
        rounds=rounds,
        local_epochs=5,
        lr=0.1,
        batch_size=32,
        hidden=(32,),
        fraction=1.0,
        strategy="fedavg",
        engine="vectorized",
        seed=seed,
    )


def centralized_seconds(config: FederatedConfig) -> tuple[float, int]:
    """Plain mini-batch SGD (nn.Module + torch.optim.SGD) over as many examples as the simulation
    processes: rounds x local epochs x all clients' data."""
    data = build_data(config)
    x, y = torch.from_numpy(data.train_x), torch.from_numpy(data.train_y)
    total = config.rounds * config.local_epochs * len(y)
    model = default_module(config)
    gen = torch.Generator().manual_seed(config.seed)
    t0 = time.perf_counter()
    plain_sgd(
        model, x, y, lr=config.lr, batch_size=config.batch_size, examples=total, generator=gen
    )
    return time.perf_counter() - t0, total


def bench_federated(
    clients: int = 10, rounds: int = 3, repeats: int = 3, flower: bool = True
) -> dict[str, Any]:
    config = workload(clients, rounds)
    t0 = time.perf_counter()
    first = simulate(config)
    cold = time.perf_counter() - t0  # includes torch.func's one-time lazy imports
    times, result = [], first
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = simulate(config)
        times.append(time.perf_counter() - t0)
    vega_s = statistics.median(times)
    central = [centralized_seconds(config) for _ in range(repeats)]
    central_s = statistics.median(c[0] for c in central)
    out: dict[str, Any] = {
        "clients": clients,
        "rounds": rounds,
        "local_epochs": config.local_epochs,
        "examples_processed": central[0][1],
        "vega_s": vega_s,
        "vega_cold_s": cold,
        "vega_all_s": times,
        "vega_acc": result.final_accuracy,
        "centralized_s": central_s,
        "compute_fraction": central_s / vega_s,
        "threads": torch.get_num_threads(),
    }
    if flower:
        from vega_lab.benchmarks.flower_fedavg import run_flower_fedavg

        fl = run_flower_fedavg(config)
        out |= {
            "flower_s": fl["seconds"],
            "flower_acc": fl["accuracy"],
            "speedup": fl["seconds"] / vega_s,
            "acc_gap": abs(fl["accuracy"] - result.final_accuracy),
        }
    return out
