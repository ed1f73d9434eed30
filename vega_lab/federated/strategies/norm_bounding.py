"""Norm bounding (Sun et al. 2019, "Can You Really Backdoor Federated Learning?"): clip each
client update to a norm bound, then take FedAvg's weighted mean. A scaled model-replacement
update (Bagdasaryan et al. 2020) needs a large norm to survive averaging; clipping takes it away.

``max_norm`` fixes the bound; unset, it is the round's example-weighted median update norm, a
scale-free bound that a minority of clients cannot inflate (and that leaves identical updates
untouched)."""

from __future__ import annotations

import torch

from vega_lab.errors import FederatedError
from vega_lab.federated.strategies.base import ClientUpdates
from vega_lab.federated.strategies.fedavg import FedAvg
from vega_lab.federated.strategies.robust_base import require_finite


def weighted_median(values: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """The smallest value whose cumulative weight reaches half the total (so a client of weight
    3 counts like three clients of weight 1, and weight 0 does not count)."""
    v, order = values.sort(stable=True)
    cum = weights[order].cumsum(0)
    return v[int(torch.searchsorted(cum, cum[-1] / 2))]


class NormBounding(FedAvg):
    name = "norm_bounding"

    def __init__(self, max_norm: float | None = None, server_lr: float = 1.0) -> None:
        super().__init__(server_lr=server_lr)
        if max_norm is not None and not max_norm > 0:
            raise FederatedError(f"norm_bounding: max_norm must be > 0, got {max_norm}")
        self.max_norm = max_norm

    def clip_factors(self, updates: ClientUpdates) -> torch.Tensor:
        """min(1, bound / ||delta_i||) per client."""
        require_finite(updates, self.name)
        norms = updates.deltas.norm(dim=1)
        bound = (
            torch.tensor(self.max_norm, dtype=norms.dtype)
            if self.max_norm is not None
            else weighted_median(norms, self.weights(updates))
        )
        return torch.where(norms > bound, bound / norms.clamp(min=1e-30), torch.ones_like(norms))

    def contributions(self, updates: ClientUpdates) -> torch.Tensor:
        return self.weights(updates) * self.clip_factors(updates)

    def average(self, updates: ClientUpdates) -> torch.Tensor:
        return (self.contributions(updates)[:, None] * updates.deltas).sum(0)
