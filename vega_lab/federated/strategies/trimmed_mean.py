"""Coordinate-wise trimmed mean (Yin et al. 2018): per coordinate, drop the k largest and the k
smallest client values and average the rest. k is ``f`` (or ``byzantine_fraction`` of the round)
when given, else ``beta`` x n rounded down; trimming half or more of the clients leaves nothing,
so 2k >= n is refused."""

from __future__ import annotations

import math

import torch

from vega_lab.errors import FederatedError
from vega_lab.federated.strategies.robust_base import RobustAggregator


class TrimmedMean(RobustAggregator):
    name = "trimmed_mean"
    requirement = "n > 2k (k trimmed from each end)"

    def __init__(
        self,
        beta: float | None = None,
        f: float | None = None,
        byzantine_fraction: float | None = None,
        server_lr: float = 1.0,
    ) -> None:
        super().__init__(f=f, byzantine_fraction=byzantine_fraction, server_lr=server_lr)
        if beta is not None and (f is not None or byzantine_fraction is not None):
            raise FederatedError(
                "trimmed_mean: give beta or f (or byzantine_fraction), not both",
                "beta is the share trimmed from each end; f trims f clients from each end",
            )
        if beta is not None and not 0 <= beta < 0.5:
            raise FederatedError(f"trimmed_mean: beta must be in [0, 0.5), got {beta}")
        self.beta = 0.1 if beta is None and f is None and byzantine_fraction is None else beta

    def byzantine(self, n: int) -> int:
        if self.beta is not None:
            return math.floor(self.beta * n)
        return super().byzantine(n)

    def tolerates(self, n: int, f: int) -> bool:
        return n > 2 * f

    def select(self, deltas: torch.Tensor, f: int) -> tuple[torch.Tensor, torch.Tensor]:
        n, size = deltas.shape
        values, order = deltas.sort(dim=0, stable=True)
        kept = n - 2 * f
        share = torch.bincount(order[f : n - f].flatten(), minlength=n).to(deltas.dtype)
        return values[f : n - f].mean(0), share / (kept * size)
