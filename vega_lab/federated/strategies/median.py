"""Coordinate-wise median (Yin et al. 2018, "Byzantine-Robust Distributed Learning: Towards
Optimal Statistical Rates"): each coordinate of the pseudo-gradient is the median of the clients'
values, so fewer than half of the clients cannot drag it arbitrarily far; it needs n > 2f."""

from __future__ import annotations

import torch

from vega_lab.federated.strategies.robust_base import RobustAggregator


class Median(RobustAggregator):
    name = "median"
    requirement = "n > 2f"

    def tolerates(self, n: int, f: int) -> bool:
        return n > 2 * f

    def select(self, deltas: torch.Tensor, f: int) -> tuple[torch.Tensor, torch.Tensor]:
        n, size = deltas.shape
        values, order = deltas.sort(dim=0, stable=True)
        rows = slice((n - 1) // 2, n // 2 + 1)  # the middle row (odd n) or the two middle ones
        middle = order[rows]
        share = torch.bincount(middle.flatten(), minlength=n).to(deltas.dtype)
        return values[rows].mean(0), share / (middle.shape[0] * size)
