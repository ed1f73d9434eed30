"""Multi-Krum (Blanchard et al. 2017; El Mhamdi et al. 2018): average the m updates with the best
Krum scores instead of keeping one, trading a little robustness for the variance reduction of
averaging. m defaults to n - f, the most the guarantee allows."""

from __future__ import annotations

import torch

from vega_lab.errors import FederatedError
from vega_lab.federated.strategies.krum import Krum, krum_scores
from vega_lab.federated.strategies.robust_base import count_option, squared_distances


class MultiKrum(Krum):
    name = "multikrum"

    def __init__(
        self,
        f: float | None = None,
        byzantine_fraction: float | None = None,
        m: float | None = None,
        server_lr: float = 1.0,
    ) -> None:
        super().__init__(f=f, byzantine_fraction=byzantine_fraction, server_lr=server_lr)
        self.m = count_option(m, "multikrum: m")
        if self.m == 0:
            raise FederatedError("multikrum: m must be at least 1", "m = 1 is Krum")

    def select(self, deltas: torch.Tensor, f: int) -> tuple[torch.Tensor, torch.Tensor]:
        n = deltas.shape[0]
        m = n - f if self.m is None else self.m
        if m > n - f:
            raise FederatedError(
                f"multikrum: m={m} exceeds n - f = {n - f}: Byzantine updates would be averaged in",
                "lower m or f, or leave m unset (n - f)",
            )
        chosen = krum_scores(squared_distances(deltas), f).argsort(stable=True)[:m]
        share = torch.zeros(n, dtype=deltas.dtype)
        share[chosen] = 1.0 / m
        return deltas[chosen].mean(0), share
