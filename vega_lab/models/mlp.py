"""The MLP used across baselines (e.g. 64-32-10 on digits)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn

from vega_lab.errors import VegaError


def mlp(n_in: int, hidden: Sequence[int], n_out: int, *, seed: int | None = None) -> nn.Sequential:
    """ReLU MLP; with ``seed`` its initial weights are reproducible."""
    if n_in <= 0 or n_out <= 0 or any(h <= 0 for h in hidden):
        raise VegaError(f"layer sizes must be positive, got {n_in}-{list(hidden)}-{n_out}")
    sizes = [n_in, *hidden, n_out]
    layers: list[nn.Module] = []
    gen_state = None
    if seed is not None:
        gen_state = torch.random.get_rng_state()
        torch.manual_seed(seed)
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(nn.ReLU())
    if gen_state is not None:
        torch.random.set_rng_state(gen_state)
    return nn.Sequential(*layers)
