"""Bulyan (El Mhamdi et al. 2018, "The Hidden Vulnerability of Distributed Learning in
Byzantium"): pick theta = n - 2f updates by repeated Krum (each pick leaves the pool), then per
coordinate average the beta = theta - 2f picked values closest to their median. Krum alone lets
an attacker hide a large change in one coordinate; the trimmed second stage bounds every
coordinate. The guarantee needs n >= 4f + 3."""

from __future__ import annotations

import torch

from vega_lab.federated.strategies.krum import krum_scores
from vega_lab.federated.strategies.robust_base import (
    RobustAggregator,
    coordinate_median,
    squared_distances,
)


class Bulyan(RobustAggregator):
    name = "bulyan"
    requirement = "n >= 4f + 3"

    def tolerates(self, n: int, f: int) -> bool:
        return n >= 4 * f + 3

    def select(self, deltas: torch.Tensor, f: int) -> tuple[torch.Tensor, torch.Tensor]:
        n, size = deltas.shape
        dist2 = squared_distances(deltas)
        pool = torch.arange(n)
        picked = []
        for _ in range(n - 2 * f):  # inherently sequential: each Krum runs on what is left
            best = int(krum_scores(dist2[pool][:, pool], f).argmin())
            picked.append(int(pool[best]))
            pool = torch.cat([pool[:best], pool[best + 1 :]])
        rows = torch.tensor(picked)
        chosen = deltas[rows]  # [theta, n]
        beta = len(picked) - 2 * f
        nearest = (chosen - coordinate_median(chosen)).abs().argsort(dim=0, stable=True)[:beta]
        delta = chosen.gather(0, nearest).mean(0)
        share = torch.bincount(rows[nearest].flatten(), minlength=n).to(deltas.dtype)
        return delta, share / (beta * size)
