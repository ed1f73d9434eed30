"""The (epsilon, delta) curve of mu-Gaussian differential privacy, inverted robustly.

A mechanism is mu-GDP when telling its outputs on neighbouring datasets apart is as hard as
telling N(0, 1) from N(mu, 1). Its privacy profile is exact and closed-form (Dong, Roth & Su
2019, Corollary 2.13; the same curve as Balle & Wang 2018, Theorem 8):

    delta(eps) = Phi(-eps / mu + mu / 2) - exp(eps) * Phi(-eps / mu - mu / 2)

Two accountants need it: GDP (mu from the central limit theorem) and PRV at sample rate 1,
where T full-batch Gaussian steps with noise sigma are *exactly* sqrt(T) / sigma-GDP.
Opacus's ``eps_from_mu`` solves the same equation on the fixed bracket [0, 500] and fails at
both ends (epsilon 0 at large delta, epsilon > 500 at tiny noise), hence this version.
"""

from __future__ import annotations

import math

_EPS_CAP = 1e12  # beyond this, epsilon is reported as infinite


def gaussian_delta(eps: float, mu: float) -> float:
    """delta(eps) of mu-GDP; the exp(eps) term is formed in log space so it cannot overflow."""
    from scipy.stats import norm

    first = float(norm.cdf(-eps / mu + mu / 2))
    log_second = eps + float(norm.logcdf(-eps / mu - mu / 2))
    return first - math.exp(min(log_second, 0.0))  # second <= first <= 1; clamp float noise


def gaussian_epsilon(mu: float, delta: float) -> float:
    """The smallest epsilon with delta(epsilon) <= delta for mu-GDP (inf for infinite mu)."""
    from scipy.optimize import brentq

    if mu <= 0.0:
        return 0.0
    if not math.isfinite(mu) or mu * mu / 2 > _EPS_CAP:  # epsilon grows like mu^2 / 2
        return math.inf
    if gaussian_delta(0.0, mu) <= delta:  # delta is so large that epsilon 0 already holds
        return 0.0
    hi = max(1.0, mu * mu)
    while gaussian_delta(hi, mu) > delta:  # delta(eps) falls monotonically to 0
        hi *= 2.0
        if hi > _EPS_CAP:
            return math.inf
    return float(brentq(lambda e: gaussian_delta(e, mu) - delta, 0.0, hi, xtol=1e-12, rtol=1e-12))
