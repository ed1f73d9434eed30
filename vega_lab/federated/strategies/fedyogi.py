"""FedYogi (Reddi et al. 2021): Yogi's additive, sign-controlled second moment on the server."""

from __future__ import annotations

import torch

from vega_lab.federated.strategies.adaptive import AdaptiveServer


class FedYogi(AdaptiveServer):
    name = "fedyogi"

    def second_moment(self, v: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        d2 = delta.square()
        return v - (1 - self.beta_2) * d2 * torch.sign(v - d2)
