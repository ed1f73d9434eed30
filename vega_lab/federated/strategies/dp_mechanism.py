"""The Gaussian-mechanism pieces of DP-FedAvg (`dp_fedavg`): option checks, per-row
clipping, seeded noise streams and the adaptive-clipping noise split."""

from __future__ import annotations

import math

import numpy as np
import torch

from vega_lab.errors import FederatedError, PrivacyError


def positive(name: str, value: float, hint: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise PrivacyError(f"{name} must be a number > 0, got {value!r}", hint)
    if not math.isfinite(value):
        raise PrivacyError(f"{name} must be finite, got {value!r}", hint)
    return float(value)


def noise_generator(seed: int, step: int, salt: int, client: int = 0) -> torch.Generator:
    """An independent stream per (seed, aggregation step, purpose, client)."""
    key = np.random.SeedSequence([seed, step, salt, client]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(key))


def clip_rows(deltas: torch.Tensor, clip: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Each row scaled to norm <= clip; also returns the row norms before clipping."""
    norms = deltas.norm(dim=1)
    if not bool(torch.isfinite(norms).all()):
        bad = torch.nonzero(~torch.isfinite(norms)).flatten().tolist()
        raise FederatedError(
            f"client updates at rows {bad} contain NaN or Inf",
            "no noise can hide a non-finite update: fix the client's training (lower lr)",
        )
    scale = torch.clamp(clip / norms.clamp(min=1e-12), max=1.0)
    return deltas * scale[:, None], norms


def adaptive_noise(z: float, count_noise: float) -> float:
    """z_delta = (z^-2 - (2 sigma_b)^-2)^(-1/2): the update noise that, with the clipped-count
    noise sigma_b, composes to multiplier z (Andrew et al. 2021, Theorem 1)."""
    if z == 0:
        return 0.0
    if not count_noise > z / 2:
        raise PrivacyError(
            f"the clipped-count noise {count_noise:g} is too small for noise multiplier {z:g}: "
            f"it must exceed z / 2 = {z / 2:g}",
            "raise count_noise (Andrew et al. use clients per round / 20) or lower z",
        )
    return (z**-2 - (2 * count_noise) ** -2) ** -0.5


def check_options(
    *,
    clip_norm: float,
    noise_multiplier: float | None,
    target_epsilon: float | None,
    delta: float,
) -> None:
    """Refuse C <= 0, z < 0, both z and a target, a target <= 0 and delta outside (0, 1)."""
    positive("clip_norm", clip_norm, "the update norm bound C, e.g. 1.0")
    if noise_multiplier is not None and target_epsilon is not None:
        raise PrivacyError(
            "give noise_multiplier or target_epsilon, not both",
            "target_epsilon computes the noise multiplier for the planned rounds",
        )
    if noise_multiplier is not None and (
        isinstance(noise_multiplier, bool)
        or not isinstance(noise_multiplier, (int, float))
        or not 0 <= noise_multiplier < math.inf
    ):
        raise PrivacyError(
            f"noise_multiplier must be a finite number >= 0, got {noise_multiplier!r}",
            "it is the noise std over the sensitivity; 0 means clipping only (no privacy)",
        )
    if target_epsilon is not None:
        positive("target_epsilon", target_epsilon, "client-level targets are 1 to 10")
    if isinstance(delta, bool) or not isinstance(delta, (int, float)) or not 0 < delta < 1:
        raise PrivacyError(
            f"delta must lie in (0, 1), got {delta!r}",
            "use delta well below 1 / number of clients, e.g. 1e-5",
        )


def check_adaptive(*, target_quantile: float, clip_lr: float, count_noise: float | None) -> None:
    if not 0 <= target_quantile <= 1:
        raise PrivacyError(
            f"target_quantile must lie in [0, 1], got {target_quantile!r}",
            "it is the share of updates left unclipped; 0.5 tracks the median norm",
        )
    positive("clip_lr", clip_lr, "Andrew et al. use 0.2")
    if count_noise is not None and not count_noise >= 0:
        raise PrivacyError(
            f"count_noise must be >= 0, got {count_noise!r}",
            "leave it unset for clients per round / 20 (Andrew et al.)",
        )
