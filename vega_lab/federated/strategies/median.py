"""Coordinate-wise median (Yin et al. 2018, "Byzantine-Robust Distributed Learning: Towards
Optimal Statistical Rates"): each coordinate of the pseudo-gradient is the median of the clients'
values, so fewer than half of the clients cannot drag it arbitrarily far; it needs n > 2f."""

from __future__ import annotations

import torch

from vega_lab.federated.strategies.robust_base import RobustAggregator, coordinate_median


class Median(RobustAggregator):
    name = "median"
    requirement = "n > 2f"

    def tolerates(self, n: int, f: int) -> bool:
        return n > 2 * f

    def select(self, deltas: torch.Tensor, f: int) -> tuple[torch.Tensor, torch.Tensor]:
        n, size = deltas.shape
        order = deltas.argsort(dim=0, stable=True)
        middle = order[(n - 1) // 2 : n // 2 + 1]  # one row (odd n) or the two middle ones
        share = torch.bincount(middle.flatten(), minlength=n).to(deltas.dtype)
        return coordinate_median(deltas), share / (middle.shape[0] * size)
