"""Ditto (Li et al. 2021): FedAvg for the global model, plus a personal model per client trained
with a proximal pull of strength lambda towards the current global model. Clients are evaluated
on their personal models."""

from __future__ import annotations

import torch

from vega_lab.federated.strategies.base import State
from vega_lab.federated.strategies.fedavg import FedAvg


class Ditto(FedAvg):
    name = "ditto"

    def __init__(self, lam: float = 0.1, server_lr: float = 1.0) -> None:
        super().__init__(server_lr)
        self.personal_lambda = lam

    def init_client_state(self, params: torch.Tensor) -> State:
        return {"personal": params.clone()}
