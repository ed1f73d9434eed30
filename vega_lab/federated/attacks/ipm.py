"""Inner-product manipulation (Xie, Koyejo, Gupta 2020, "Fall of Empires: Breaking Byzantine-
tolerant SGD by Inner Product Manipulation"): every malicious client sends -epsilon x the mean
of the benign updates. The aggregate's inner product with the true gradient turns negative (or
just small), so descent stops. A small epsilon (the paper's 0.1) keeps the malicious updates
tightly clustered near the origin, where Krum and the median like to pick."""

from __future__ import annotations

import torch

from vega_lab.errors import FederatedError
from vega_lab.federated.attacks.base import Attack, benign_stats


class InnerProductManipulation(Attack):
    name = "ipm"

    def __init__(self, epsilon: float = 0.1) -> None:
        if not epsilon > 0:
            raise FederatedError(f"ipm: epsilon must be > 0, got {epsilon}")
        self.epsilon = epsilon

    def tamper(
        self, deltas: torch.Tensor, malicious: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        stats = benign_stats(deltas, malicious)
        if stats is None:
            return deltas
        return torch.where(malicious[:, None], -self.epsilon * stats[0], deltas)
