"""Krum (Blanchard et al. 2017, "Machine Learning with Adversaries: Byzantine Tolerant Gradient
Descent"): the server keeps the one update with the smallest sum of squared distances to its
n - f - 2 nearest neighbours. Honest updates cluster, so an outlier's neighbours are far; the
guarantee needs n > 2f + 2."""

from __future__ import annotations

import torch

from vega_lab.federated.strategies.robust_base import RobustAggregator, squared_distances


def krum_scores(dist2: torch.Tensor, f: int) -> torch.Tensor:
    """Each row's sum of squared distances to its ``n - f - 2`` nearest other rows (at least
    one neighbour; none when a single row is left), from a ``[C, C]`` distance matrix."""
    n = dist2.shape[0]
    k = min(max(1, n - f - 2), n - 1)
    if k <= 0:
        return torch.zeros(n, dtype=dist2.dtype)
    d = dist2.clone()
    d.fill_diagonal_(float("inf"))
    return d.topk(k, dim=1, largest=False).values.sum(1)


class Krum(RobustAggregator):
    name = "krum"
    requirement = "n > 2f + 2"

    def tolerates(self, n: int, f: int) -> bool:
        return n > 2 * f + 2

    def select(self, deltas: torch.Tensor, f: int) -> tuple[torch.Tensor, torch.Tensor]:
        best = int(krum_scores(squared_distances(deltas), f).argmin())  # first of ties
        share = torch.zeros(deltas.shape[0], dtype=deltas.dtype)
        share[best] = 1.0
        return deltas[best].clone(), share
