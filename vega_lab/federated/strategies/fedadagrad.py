"""FedAdagrad (Reddi et al. 2021): Adagrad's accumulated second moment on the server."""

from __future__ import annotations

import torch

from vega_lab.federated.strategies.adaptive import AdaptiveServer


class FedAdagrad(AdaptiveServer):
    name = "fedadagrad"

    def second_moment(self, v: torch.Tensor, delta: torch.Tensor) -> torch.Tensor:
        return v + delta.square()
