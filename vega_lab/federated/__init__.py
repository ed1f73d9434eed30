"""Federated simulation: partition data, pick a strategy and an engine, `simulate`.

from vega_lab.federated import simulate
result = simulate(strategy="scaffold", partition="dirichlet", alpha=0.1, rounds=20)
result.frame()
"""

from __future__ import annotations

import torch  # noqa: F401 - torch before tensorflow/flwr: see ENVIRONMENT.md (LLVM clash)

from vega_lab.federated.config import FederatedConfig
from vega_lab.federated.engines import ENGINES
from vega_lab.federated.model import ParamSpec, TorchModel
from vega_lab.federated.partitioning import PARTITIONERS, partition
from vega_lab.federated.rounds import RoundRecord
from vega_lab.federated.simulation import FederatedResult, simulate
from vega_lab.federated.strategies import STRATEGIES, get_strategy

__all__ = [
    "ENGINES",
    "PARTITIONERS",
    "STRATEGIES",
    "FederatedConfig",
    "FederatedResult",
    "ParamSpec",
    "RoundRecord",
    "TorchModel",
    "get_strategy",
    "partition",
    "simulate",
]
