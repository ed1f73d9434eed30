"""FedAvgM (Hsu et al. 2019): server momentum on the averaged client delta."""

from __future__ import annotations

import torch

from vega_lab.federated.strategies.base import ClientUpdates, State, Strategy


class FedAvgM(Strategy):
    name = "fedavgm"

    def __init__(self, server_lr: float = 1.0, momentum: float = 0.9) -> None:
        self.server_lr = server_lr
        self.momentum = momentum

    def init_state(self, params: torch.Tensor, num_clients: int) -> State:
        return {"momentum": torch.zeros_like(params)}

    def server_update(
        self, params: torch.Tensor, delta: torch.Tensor, updates: ClientUpdates, state: State
    ) -> tuple[torch.Tensor, State]:
        v = self.momentum * state["momentum"] + delta
        return params + self.server_lr * v, {**state, "momentum": v}
