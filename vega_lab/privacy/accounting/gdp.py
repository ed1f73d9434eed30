"""Gaussian-DP accounting by the central limit theorem (Bu, Dong, Long & Su 2020).

T Poisson-sampled Gaussian steps are approximately mu-GDP with

    mu = q * sqrt(T * (exp(1 / sigma^2) - 1)),

and mu-GDP has an exact (epsilon, delta) curve. A closed form, so instant, but an
*approximation*: the CLT is accurate when q * sqrt(T) stays moderate and T is large, and it can
under-report epsilon (Gopi et al. 2021, Fig. 1), so it is not a guarantee. Use it for quick
what-ifs; report PRV or RDP. mu is Opacus's ``compute_mu_poisson``; the inversion is
``_gaussian.gaussian_epsilon`` (robust where Opacus's fixed bracket is not).
"""

from __future__ import annotations

import math

from vega_lab.privacy.accounting._gaussian import gaussian_epsilon
from vega_lab.privacy.accounting.base import Accountant, _validated


class GDPAccountant(Accountant):
    """Gaussian-DP accountant (CLT): closed form, fast, an approximation."""

    name = "gdp"
    upper_bound = False

    def mu(self, sample_rate: float, noise_multiplier: float, steps: int) -> float:
        """The CLT's mu for the run (inf when exp(1 / sigma^2) overflows)."""
        q, sigma, steps, _ = _validated(sample_rate, noise_multiplier, steps, 0.5)
        return self._mu(q, sigma, steps)

    @staticmethod
    def _mu(sample_rate: float, noise_multiplier: float, steps: int) -> float:
        import numpy as np
        from opacus.accountants.analysis.gdp import compute_mu_poisson

        with np.errstate(over="ignore"):
            mu = compute_mu_poisson(
                steps=steps, noise_multiplier=noise_multiplier, sample_rate=sample_rate
            )
        mu = float(mu)
        return math.inf if math.isnan(mu) else mu

    def _epsilon(
        self, sample_rate: float, noise_multiplier: float, steps: int, delta: float
    ) -> float:
        return gaussian_epsilon(self._mu(sample_rate, noise_multiplier, steps), delta)
