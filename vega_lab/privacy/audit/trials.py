"""Audit trials: many DP-SGD runs with and without canaries, trained together, and the
adversary's score for every (run, canary) pair.

The audited training is DP-SGD on a small MLP over ``n_train`` examples of a shipped dataset
(batched.py: Poisson sampling, per-example clipping, Gaussian noise, the same arithmetic as
Opacus's DPOptimizer). Each run draws the canaries' membership independently (probability 1/2)
and all runs share the data and the initialization, so the only differences between runs with
and without a canary are the canary itself and the mechanism's randomness.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from vega_lab.errors import AuditError
from vega_lab.privacy.audit.batched import (
    DPSGD,
    GradientCanaries,
    MLPShape,
    dead_coordinates,
    per_example_losses,
    train_copies,
)
from vega_lab.privacy.audit.config import AuditConfig


@dataclass(frozen=True)
class TrialScores:
    """The adversary's view: one score per (run, canary) and whether that canary was in."""

    scores: np.ndarray  # [trials, canaries]
    included: np.ndarray  # [trials, canaries] bool
    independent: bool  # canaries of one run are independent (Dirac canaries on dead weights)
    noise_multiplier: float
    seconds: float


def _training_data(config: AuditConfig) -> tuple[torch.Tensor, torch.Tensor]:
    from vega_lab.datasets.shipped import load_dataset

    ds = load_dataset(config.dataset)
    x = np.asarray(ds.x, dtype=np.float32).reshape(len(ds.x), -1)
    y = np.asarray(ds.y, dtype=np.int64)
    needed = config.n_train + (config.canaries if config.threat == "black-box" else 0)
    if needed > len(x):
        raise AuditError(
            f"{config.dataset} has {len(x)} examples; n_train {config.n_train} plus "
            f"{config.canaries} canaries do not fit",
            "lower n_train or canaries",
        )
    order = np.random.default_rng(config.seed).permutation(len(x))
    return torch.from_numpy(x[order]), torch.from_numpy(y[order])


def _inclusion(config: AuditConfig) -> torch.Tensor:
    """Membership of each canary in each run: exactly half the runs for a single canary (a
    balanced multi-run audit), otherwise independent fair coins (the one-run audit's design)."""
    gen = torch.Generator().manual_seed(config.seed + 17)
    t, k = config.trials, config.canaries
    if k == 1 and t > 1:
        inc = torch.zeros(t, dtype=torch.bool)
        inc[torch.randperm(t, generator=gen)[: t // 2]] = True
        return inc.unsqueeze(1)
    return torch.rand(t, k, generator=gen) < 0.5


def likelihood_ratio_score(
    observations: torch.Tensor, noise_multiplier: float, sample_rate: float
) -> torch.Tensor:
    """The white-box adversary's optimal statistic: the log-likelihood ratio of the per-step
    updates along the canary coordinate (in units of C) under 'canary in' (a Poisson mixture
    of N(1, sigma^2) and N(0, sigma^2)) versus 'canary out' (N(0, sigma^2)), summed over steps.
    For sample rate 1 it is an increasing function of the plain sum of the updates."""
    a = (observations - 0.5) / noise_multiplier**2
    if sample_rate >= 1.0:
        return a.sum(0)
    mix = torch.logaddexp(torch.full_like(a, math.log1p(-sample_rate)), a + math.log(sample_rate))
    return mix.sum(0)


def run_trials(
    config: AuditConfig,
    noise_multiplier: float,
    progress: Callable[[int, int], None] | None = None,
) -> TrialScores:
    """Train ``config.trials`` DP-SGD runs with their canaries and score every canary."""
    import time

    t0 = time.perf_counter()
    x, y = _training_data(config)
    n_classes = int(y.max()) + 1
    shape = MLPShape((x.shape[1], *config.hidden, n_classes))
    dp = DPSGD(noise_multiplier, config.max_grad_norm, noise_scale=config.noise_scale)
    included = _inclusion(config)
    n, k = config.n_train, config.canaries
    common = dict(shape=shape, steps=config.steps, lr=config.lr, sample_rate=config.sample_rate)
    if config.threat == "white-box":
        x_train, y_train = x[:n], y[:n]
        dead = dead_coordinates(shape, x_train)
        independent = len(dead) >= k
        coords = dead[:k]
        if not independent:  # not enough untouched weights: add random other weights
            if k > shape.n_params:
                raise AuditError(
                    f"{k} gradient canaries need {k} distinct coordinates; the "
                    f"{shape.sizes} MLP has {shape.n_params} parameters",
                    "use fewer canaries or wider hidden layers",
                )
            gen = np.random.default_rng(config.seed)
            rest = sorted(set(range(shape.n_params)) - set(dead))
            coords += gen.choice(rest, size=k - len(dead), replace=False).tolist()
        members = torch.ones(config.trials, n, dtype=torch.bool)
        run = train_copies(
            x_train, y_train, members, dp=dp, seed=config.seed, progress=progress,
            canaries=GradientCanaries(torch.tensor(coords, dtype=torch.long), included),
            **common,
        )  # fmt: skip
        scores = likelihood_ratio_score(run.observations, noise_multiplier, config.sample_rate)
    else:
        # Input-space canaries: held-out examples given a wrong label, so that only
        # memorization (not generalization) can lower their loss.
        xc = x[n : n + k]
        yc = (y[n : n + k] + 1 + torch.arange(k) % (n_classes - 1)) % n_classes
        xa, ya = torch.cat([x[:n], xc]), torch.cat([y[:n], yc])
        members = torch.cat([torch.ones(config.trials, n, dtype=torch.bool), included], dim=1)
        run = train_copies(xa, ya, members, dp=dp, seed=config.seed, progress=progress, **common)
        with torch.no_grad():
            scores = -per_example_losses(shape, run.theta, xc, yc)
        independent = k == 1
    return TrialScores(
        scores=scores.numpy().astype(np.float64),
        included=included.numpy(),
        independent=independent,
        noise_multiplier=noise_multiplier,
        seconds=time.perf_counter() - t0,
    )
