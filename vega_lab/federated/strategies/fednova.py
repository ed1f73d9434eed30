"""FedNova (Wang et al. 2020): normalise each client's delta by its number of local steps before
averaging, then rescale by the effective step count, which removes the objective inconsistency
FedAvg suffers when clients do different amounts of local work."""

from __future__ import annotations

import torch

from vega_lab.federated.strategies.base import ClientUpdates, State, Strategy


class FedNova(Strategy):
    name = "fednova"

    def __init__(self, server_lr: float = 1.0) -> None:
        self.server_lr = server_lr

    def average(self, updates: ClientUpdates) -> torch.Tensor:
        p = self.weights(updates)
        tau = updates.num_steps.to(updates.deltas.dtype).clamp(min=1.0)
        normalized = updates.deltas / tau[:, None]
        return (p * tau).sum() * (p[:, None] * normalized).sum(0)

    def server_update(
        self, params: torch.Tensor, delta: torch.Tensor, updates: ClientUpdates, state: State
    ) -> tuple[torch.Tensor, State]:
        return params + self.server_lr * delta, dict(state)
