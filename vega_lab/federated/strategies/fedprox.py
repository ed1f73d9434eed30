"""FedProx (Li et al. 2020): FedAvg whose clients add mu/2 ||w - w_global||^2 to their loss, which
bounds client drift under heterogeneous data and partial work."""

from __future__ import annotations

from vega_lab.federated.strategies.fedavg import FedAvg


class FedProx(FedAvg):
    name = "fedprox"

    def __init__(self, mu: float = 0.01, server_lr: float = 1.0) -> None:
        super().__init__(server_lr)
        self.prox_mu = mu
