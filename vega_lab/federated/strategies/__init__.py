"""Federated strategies, one algorithm per module, chosen by name."""

from __future__ import annotations

from typing import Any

from vega_lab.errors import FederatedError
from vega_lab.federated.strategies.base import ClientUpdates, State, Strategy
from vega_lab.federated.strategies.bulyan import Bulyan
from vega_lab.federated.strategies.ditto import Ditto
from vega_lab.federated.strategies.dp_fedavg import DPFedAvg
from vega_lab.federated.strategies.fedadagrad import FedAdagrad
from vega_lab.federated.strategies.fedadam import FedAdam
from vega_lab.federated.strategies.fedavg import FedAvg
from vega_lab.federated.strategies.fedavgm import FedAvgM
from vega_lab.federated.strategies.fednova import FedNova
from vega_lab.federated.strategies.fedprox import FedProx
from vega_lab.federated.strategies.fedyogi import FedYogi
from vega_lab.federated.strategies.krum import Krum
from vega_lab.federated.strategies.median import Median
from vega_lab.federated.strategies.multikrum import MultiKrum
from vega_lab.federated.strategies.norm_bounding import NormBounding
from vega_lab.federated.strategies.scaffold import Scaffold
from vega_lab.federated.strategies.trimmed_mean import TrimmedMean
from vega_lab.registry import create

STRATEGIES: dict[str, type[Strategy]] = {
    s.name: s
    for s in (FedAvg, FedAvgM, FedProx, Scaffold, FedAdam, FedYogi, FedAdagrad, FedNova, Ditto)
}
# Byzantine-robust aggregators (one client, one vote)
STRATEGIES |= {s.name: s for s in (Krum, MultiKrum, Bulyan, Median, TrimmedMean, NormBounding)}
# client-level differential privacy (clipping + Gaussian noise, accounted)
STRATEGIES[DPFedAvg.name] = DPFedAvg


def get_strategy(name: str, **options: Any) -> Strategy:
    """Instantiate a strategy by registry name with its hyperparameters."""
    return create(STRATEGIES, name, "strategy", options, FederatedError)


__all__ = ["STRATEGIES", "ClientUpdates", "State", "Strategy", "get_strategy"]
