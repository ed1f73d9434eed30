"""The robustness matrix: aggregator x attack x malicious fraction -> final accuracy (and the
backdoor's success, and how well anomaly detection caught the attackers), one simulation per
cell. The one library call behind ``vega-lab bench robustness`` and
experiments/robustness_matrix.ipynb.

The defender knows f, as in the papers: Krum, Multi-Krum and Bulyan get f = the number of
malicious clients, the trimmed mean trims that many from each end. At fraction 0 no client is
malicious, so every attack is the same run: one clean run per aggregator fills that column
(run with the backdoor attack armed but no attacker, so its backdoor_success is the clean
model's rate). A cell whose aggregator refuses (Bulyan needs n >= 4f + 3) is recorded as refused
with the reason, not skipped silently.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from vega_lab.errors import FederatedError
from vega_lab.federated.config import FederatedConfig
from vega_lab.federated.simulation import simulate
from vega_lab.models.threads import torch_threads

AGGREGATORS = ("fedavg", "krum", "multikrum", "bulyan", "median", "trimmed_mean", "norm_bounding")
ATTACK_NAMES = ("label_flip", "sign_flip", "gaussian", "backdoor", "alie", "ipm")
FRACTIONS = (0.0, 0.1, 0.2, 0.3)
#: digits, 100 IID clients, 10 rounds of 5 local epochs: FedAvg reaches ~0.87 without attack.
WORKLOAD: dict[str, Any] = dict(
    dataset="digits", partition="iid", num_clients=100, rounds=10, local_epochs=5, lr=0.3,
    batch_size=32, hidden=(32,), engine="vectorized", seed=0,
)  # fmt: skip
_F_RULES = ("krum", "multikrum", "bulyan", "trimmed_mean")  # take the known f


def defence_options(aggregator: str, malicious: int) -> dict[str, float]:
    """The aggregator's options when ``malicious`` clients attack (f known to the defender)."""
    return {"f": float(malicious)} if aggregator in _F_RULES else {}


def _cell(config: FederatedConfig) -> dict[str, Any]:
    t0 = time.perf_counter()
    try:
        res = simulate(config)
    except FederatedError as exc:
        return {"status": "refused", "error": str(exc), "seconds": time.perf_counter() - t0}
    frame = res.audit_frame()
    attacked = frame[frame["malicious"]]
    honest = frame[~frame["malicious"]]
    last = res.history[-1]
    return {
        "status": "ok",
        "accuracy": res.final_accuracy,
        "backdoor_success": last.backdoor_success,
        "flag_recall": attacked["flagged"].mean() if len(attacked) else math.nan,
        "flag_false_positive": honest["flagged"].mean() if len(honest) else math.nan,
        "seconds": time.perf_counter() - t0,
    }


def robustness_matrix(
    aggregators: Sequence[str] = AGGREGATORS,
    attacks: Sequence[str] = ATTACK_NAMES,
    fractions: Sequence[float] = FRACTIONS,
    *,
    on_cell: Callable[[dict[str, Any]], None] | None = None,
    threads: int | None = 1,
    **workload: Any,
) -> pd.DataFrame:
    """One row per (aggregator, attack, malicious_fraction): status ("ok", "refused"),
    accuracy, backdoor_success, flag_recall, flag_false_positive, seconds, shared (True for the
    fraction-0 cells that reuse the aggregator's one clean run). ``workload`` overrides
    `WORKLOAD` (e.g. num_clients, rounds, seed). ``threads``: torch threads while it runs (one
    is fastest for these small models, ten times faster than two on a busy 2-core machine;
    None keeps the current setting)."""
    with torch_threads(threads):
        return _matrix(aggregators, attacks, fractions, on_cell, workload)


def _matrix(
    aggregators: Sequence[str],
    attacks: Sequence[str],
    fractions: Sequence[float],
    on_cell: Callable[[dict[str, Any]], None] | None,
    workload: dict[str, Any],
) -> pd.DataFrame:
    base = {**WORKLOAD, **workload}
    n = int(base["num_clients"])
    rows: list[dict[str, Any]] = []

    def run(aggregator: str, attack: str, fraction: float, malicious: int) -> dict[str, Any]:
        config = FederatedConfig.make(
            **base,
            strategy=aggregator,
            strategy_options=defence_options(aggregator, malicious),
            attack=attack,
            malicious_fraction=fraction,
        )
        return _cell(config)

    for aggregator in aggregators:
        for fraction in fractions:
            malicious = math.floor(fraction * n + 0.5)
            clean = run(aggregator, "backdoor", fraction, 0) if not malicious else None
            for attack in attacks:
                cell = clean if clean is not None else run(aggregator, attack, fraction, malicious)
                row = {"aggregator": aggregator, "attack": attack, "malicious_fraction": fraction}
                row |= {"malicious": malicious, **cell, "shared": clean is not None}
                if attack != "backdoor":
                    row["backdoor_success"] = math.nan
                rows.append(row)
                if on_cell is not None:
                    on_cell(row)
    columns = ["aggregator", "attack", "malicious_fraction", "malicious", "status", "accuracy"]
    columns += ["backdoor_success", "flag_recall", "flag_false_positive", "seconds", "shared"]
    columns += ["error"]
    return pd.DataFrame(rows).reindex(columns=columns)
