"""Sign flipping: each malicious client sends its own honest update negated and scaled,
-scale x delta, pushing the model uphill. With scale 1 a minority only slows FedAvg down (the
mean stays a shrunken honest direction); the default 4 reverses the mean once a fifth of the
clients flip (0.8 - 0.2 x 4 = 0)."""

from __future__ import annotations

import torch

from vega_lab.errors import FederatedError
from vega_lab.federated.attacks.base import Attack


class SignFlip(Attack):
    name = "sign_flip"

    def __init__(self, scale: float = 4.0) -> None:
        if not scale > 0:
            raise FederatedError(f"sign_flip: scale must be > 0, got {scale}")
        self.scale = scale

    def tamper(
        self, deltas: torch.Tensor, malicious: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        return torch.where(malicious[:, None], -self.scale * deltas, deltas)
