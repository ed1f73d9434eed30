"""FedAvg (McMahan et al. 2017): the example-weighted average of client models."""

from __future__ import annotations

import torch

from vega_lab.federated.strategies.base import ClientUpdates, State, Strategy


class FedAvg(Strategy):
    name = "fedavg"

    def __init__(self, server_lr: float = 1.0) -> None:
        self.server_lr = server_lr

    def server_update(
        self, params: torch.Tensor, delta: torch.Tensor, updates: ClientUpdates, state: State
    ) -> tuple[torch.Tensor, State]:
        return params + self.server_lr * delta, dict(state)
