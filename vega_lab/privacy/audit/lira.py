"""The Likelihood Ratio Attack (LiRA) of Carlini et al. 2022, "Membership inference attacks from
first principles": model, per example, the target's logit-scaled confidence
``phi = log p_y - log(1 - p_y)`` as Gaussian over shadow models that trained on the example (IN)
and shadow models that did not (OUT), then score the target's observed phi.

- online: log-likelihood ratio ``log N(phi; mu_in, s_in) - log N(phi; mu_out, s_out)``;
- offline (OUT shadows only, so they can be trained before the target is seen): the one-sided
  test ``-log P[Z > phi]`` for ``Z ~ N(mu_out, s_out)``, larger meaning more likely a member
  (training raises the confidence on a member, never lowers it in expectation).

With few shadows the per-example variance is noisy, so the paper recommends one *fixed*
(global) variance: here the pooled within-example variance of each group. Examples with fewer
than ``min_count`` shadows in a group use that global variance; an example no shadow trained
on (or every shadow did) gets the global mean shift between IN and OUT (online) or the global
OUT distribution (offline), so every example gets a finite score.

Everything is plain float64 numpy over arrays: ``shadow_phi [N, n]``, ``shadow_in [N, n]``
(bool, which shadow trained on which example), ``target_phi [n]`` or ``[T, n]``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import log_ndtr

from vega_lab.errors import AuditError

_LOG_SQRT_2PI = 0.5 * np.log(2.0 * np.pi)


@dataclass(frozen=True)
class GaussianFit:
    """Per-example Gaussian of phi over one group of shadows (IN or OUT)."""

    mean: np.ndarray  # [n]; NaN where the group is empty for that example
    std: np.ndarray  # [n]; the global std where the per-example one cannot be estimated
    count: np.ndarray  # [n] shadows in the group
    global_std: float  # pooled within-example std of the group


def fit_group(
    phi: np.ndarray, mask: np.ndarray, *, fixed_variance: bool = True, min_count: int = 2
) -> GaussianFit:
    """Mean and std of ``phi[mask]`` per example (column), with the pooled fallback."""
    phi = np.asarray(phi, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool)
    count = mask.sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(mask, phi, 0.0).sum(0) / count
        sq = np.where(mask, (phi - mean) ** 2, 0.0).sum(0)
    ok = count >= max(min_count, 2)
    dof = (count[ok] - 1).sum()
    if dof == 0:
        raise AuditError(
            "no example has two shadow models in the same group (IN or OUT), so LiRA cannot "
            "estimate a variance",
            "train more shadow models (LiRA needs shadows >= 2; 16 or more is typical)",
        )
    global_std = float(np.sqrt(sq[ok].sum() / dof))
    if fixed_variance:
        std = np.full(phi.shape[1], global_std)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            own = np.sqrt(sq / (count - 1))
        std = np.where(ok, own, global_std)
    # a group with zero spread (e.g. all shadows saturated) would give infinite likelihoods
    floor = max(global_std, 1.0) * 1e-6
    return GaussianFit(mean=mean, std=np.maximum(std, floor), count=count, global_std=global_std)


def _check(target_phi: np.ndarray, shadow_phi: np.ndarray, shadow_in: np.ndarray) -> np.ndarray:
    shadow_phi = np.asarray(shadow_phi)
    if shadow_phi.ndim != 2 or np.shape(shadow_in) != shadow_phi.shape:
        raise AuditError(
            f"shadow_phi {shadow_phi.shape} and shadow_in {np.shape(shadow_in)} must both be "
            "[shadows, examples]"
        )
    if shadow_phi.shape[0] < 2:
        raise AuditError(
            f"LiRA needs at least 2 shadow models, got {shadow_phi.shape[0]}",
            "train more shadow models (16 or more is typical; the paper uses 64 to 256)",
        )
    target = np.asarray(target_phi, dtype=np.float64)
    if target.shape[-1] != shadow_phi.shape[1]:
        raise AuditError(
            f"target_phi has {target.shape[-1]} examples but the shadows {shadow_phi.shape[1]}"
        )
    if not (np.isfinite(target).all() and np.isfinite(shadow_phi).all()):
        raise AuditError("phi contains NaN or infinity", "check the scored models")
    return target


def _log_normal(x: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    return -0.5 * ((x - mean) / std) ** 2 - np.log(std) - _LOG_SQRT_2PI


def lira_online(
    target_phi: np.ndarray,
    shadow_phi: np.ndarray,
    shadow_in: np.ndarray,
    *,
    fixed_variance: bool = True,
    min_count: int = 2,
) -> np.ndarray:
    """Online LiRA: the log-likelihood ratio of IN vs OUT for each observed phi."""
    target = _check(target_phi, shadow_phi, shadow_in)
    fin = fit_group(shadow_phi, shadow_in, fixed_variance=fixed_variance, min_count=min_count)
    fout = fit_group(
        shadow_phi, ~np.asarray(shadow_in, bool), fixed_variance=fixed_variance,
        min_count=min_count,
    )  # fmt: skip
    both = (fin.count > 0) & (fout.count > 0)
    if not both.any():
        raise AuditError(
            "no example was both IN and OUT of some shadow models",
            "train more shadow models on random halves of the pool",
        )
    shift = float(np.mean(fin.mean[both] - fout.mean[both]))
    mu_in = np.where(fin.count > 0, fin.mean, fout.mean + shift)
    mu_out = np.where(fout.count > 0, fout.mean, fin.mean - shift)
    return _log_normal(target, mu_in, fin.std) - _log_normal(target, mu_out, fout.std)


def lira_offline(
    target_phi: np.ndarray,
    shadow_phi: np.ndarray,
    shadow_in: np.ndarray,
    *,
    fixed_variance: bool = True,
    min_count: int = 2,
) -> np.ndarray:
    """Offline LiRA: ``-log P[Z > phi]`` under the OUT Gaussian (a one-sided test; the log
    keeps the confident tail, where a low-FPR threshold sits, free of ties at 1.0)."""
    target = _check(target_phi, shadow_phi, shadow_in)
    out = ~np.asarray(shadow_in, bool)
    fout = fit_group(shadow_phi, out, fixed_variance=fixed_variance, min_count=min_count)
    if (fout.count == 0).any():  # never held out: compare with the global OUT distribution
        pooled = float(np.asarray(shadow_phi, np.float64)[out].mean())
        mu = np.where(fout.count > 0, fout.mean, pooled)
    else:
        mu = fout.mean
    return -log_ndtr(-(target - mu) / fout.std)
