"""Gaussian noise (Fang et al. 2020's "Gaussian attack"): malicious clients send random vectors,
N(0, std^2) per coordinate, instead of their updates: an unsophisticated Byzantine client that a
plain mean cannot ignore."""

from __future__ import annotations

import torch

from vega_lab.errors import FederatedError
from vega_lab.federated.attacks.base import Attack


class GaussianNoise(Attack):
    name = "gaussian"

    def __init__(self, std: float = 1.0) -> None:
        if not std > 0:
            raise FederatedError(f"gaussian: std must be > 0, got {std}")
        self.std = std

    def tamper(
        self, deltas: torch.Tensor, malicious: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        noise = self.std * torch.randn(deltas.shape, generator=generator, dtype=deltas.dtype)
        return torch.where(malicious[:, None], noise, deltas)
