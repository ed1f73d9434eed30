"""FedAdam (Reddi et al. 2021): Adam on the server over the averaged client delta."""

from __future__ import annotations

import torch

from vega_lab.federated.strategies.adaptive import AdaptiveServer


class FedAdam(AdaptiveServer):
    name = "fedadam"

    def second_moment(self, v: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        return self.beta_2 * v + (1 - self.beta_2) * delta.square()
