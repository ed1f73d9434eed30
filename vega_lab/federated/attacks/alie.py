""" "A Little Is Enough" (Baruch, Baruch, Goldberg 2019): every malicious client sends
mean - z x std of the benign updates, coordinate by coordinate. The shift stays inside the
benign spread, so distance- and median-based rules keep it, yet all f attackers push the same
way. z is the paper's: with s = floor(n/2 + 1) - f clients to win over,
z = Phi^-1((n - s) / n), the largest shift that still looks closer to the mean than s benign
clients. ``z`` overrides it."""

from __future__ import annotations

import math
from statistics import NormalDist

import torch

from vega_lab.federated.attacks.base import Attack, benign_stats


def alie_z(n: int, f: int) -> float:
    """The paper's z for n clients of which f are malicious (probability clipped to (0, 1):
    with a malicious majority any z would do)."""
    s = math.floor(n / 2 + 1) - f
    p = min(max((n - s) / n, 1e-6), 1 - 1e-6)
    return NormalDist().inv_cdf(p)


class ALittleIsEnough(Attack):
    name = "alie"

    def __init__(self, z: float | None = None) -> None:
        self.z = z

    def tamper(
        self, deltas: torch.Tensor, malicious: torch.Tensor, generator: torch.Generator
    ) -> torch.Tensor:
        stats = benign_stats(deltas, malicious)
        if stats is None:
            return deltas
        mean, std = stats
        z = self.z if self.z is not None else alie_z(len(deltas), int(malicious.sum()))
        return torch.where(malicious[:, None], mean - z * std, deltas)
