"""Privacy-loss-random-variable accounting (Gopi, Lee & Wutschitz 2021): tight epsilon.

The privacy loss of one step is a random variable; composing T steps sums T copies, so its
density is a T-fold convolution, done with one FFT on a discretized grid. Epsilon is then read
off the composed distribution with explicit error bars: the result is the *upper* end, within
``eps_error`` of the true epsilon of the sampled Gaussian mechanism. That makes PRV both a
guarantee and (to ``rel_eps_error``, 0.1 % by default) the exact value, which is why it is
vega_lab's default. The maths is Opacus's (``opacus.accountants.analysis.prv``); this module
chooses the grid:

* ``eps_error`` is relative: 0.1 % of the RDP bound (which exceeds the true epsilon), so a run
  at epsilon 0.1 and one at epsilon 40 are both accurate to ~0.1 %, where Opacus's absolute
  0.01 would be 10 % of the first and waste a huge grid on the second.
* one RDP curve gives both that scale and the grid's safe half-width (Gopi et al., remark 5.6,
  as in ``opacus...prv.compute_safe_domain_size``), and the grid is capped at ``max_points``
  (memory and time); a capped grid only widens ``eps_error``, and the bound stays valid.
* at sample rate 1 the mechanism is exactly sqrt(T) / sigma-Gaussian-DP, so the exact curve is
  used instead of a grid.
* the result is min(PRV upper bound, RDP bound): both are valid, and where the grid cannot be
  built (an extreme delta or epsilon) the RDP bound is what remains.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

from vega_lab.privacy.accounting._gaussian import gaussian_epsilon
from vega_lab.privacy.accounting.base import Accountant
from vega_lab.privacy.accounting.rdp import (
    COARSE_ORDERS,
    RDPAccountant,
    rdp_one_step,
    rdp_to_epsilon,
)

if TYPE_CHECKING:
    import numpy as np
    from opacus.accountants.analysis.prv import (
        DiscretePRV,
        Domain,
        TruncatedPrivacyRandomVariable,
    )


class PRVAccountant(Accountant):
    """PRV accountant: a guarantee within ``rel_eps_error`` of the exact epsilon."""

    name = "prv"

    def __init__(self, rel_eps_error: float = 1e-3, max_points: int = 2**20) -> None:
        self.rel_eps_error = rel_eps_error
        self.max_points = max_points

    def _epsilon(
        self, sample_rate: float, noise_multiplier: float, steps: int, delta: float
    ) -> float:
        if sample_rate == 1.0:
            return gaussian_epsilon(math.sqrt(steps) / noise_multiplier, delta)
        orders = COARSE_ORDERS
        rdp1 = rdp_one_step(sample_rate, noise_multiplier, orders)
        eps_rdp = rdp_to_epsilon(orders, steps * rdp1, delta)
        if eps_rdp <= 0.0 or not math.isfinite(eps_rdp):
            return eps_rdp
        try:
            eps_prv = self._prv_upper_bound(
                sample_rate, noise_multiplier, steps, delta, rdp1, eps_rdp
            )
        except (ArithmeticError, ValueError, RuntimeError, MemoryError):
            eps_prv = math.nan
        if eps_prv < eps_rdp:
            return eps_prv
        # The grid could not beat RDP (extreme inputs): the full-grid RDP bound is what remains.
        return min(eps_rdp, RDPAccountant()._epsilon(sample_rate, noise_multiplier, steps, delta))

    def _prv_upper_bound(
        self,
        sample_rate: float,
        noise_multiplier: float,
        steps: int,
        delta: float,
        rdp1: np.ndarray,
        eps_rdp: float,
    ) -> float:
        import numpy as np
        from opacus.accountants.analysis.prv import (
            Domain,
            PoissonSubsampledGaussianPRV,
            TruncatedPrivacyRandomVariable,
            compose_heterogeneous,
        )

        delta_error = delta / 1000  # Opacus's default split of the delta budget
        eps_error = self.rel_eps_error * eps_rdp
        # Safe half-width L of the grid: beyond it the privacy loss has negligible mass.
        orders = COARSE_ORDERS
        half_width = (
            max(
                rdp_to_epsilon(orders, steps * rdp1, delta_error / 4),
                rdp_to_epsilon(orders, rdp1, delta_error / (8 * steps)),
                eps_error,
            )
            + 3.0
        )
        # Mesh for the wanted eps_error (Gopi et al., Theorem 5.5), unless that grid is too big.
        spread = math.sqrt(steps * math.log(12 / delta_error) / 2)
        mesh = max(eps_error / spread, 2 * half_width / self.max_points)
        eps_error = mesh * spread

        # Domain.create_aligned's layout (points at multiples of the mesh, t_min = -(size/2 - 1)
        # meshes, which the FFT composition's wrap-around assumes), but with a size that FFTs
        # fast: pocketfft on 2 x a large prime is 10-50 times slower.
        size = _fast_even_size(2 * math.ceil(half_width / mesh) + 2)
        domain = Domain(t_min=-(size // 2 - 1) * mesh, t_max=(size // 2) * mesh, size=size)
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            prv = PoissonSubsampledGaussianPRV(sample_rate, noise_multiplier)
            truncated = TruncatedPrivacyRandomVariable(prv, domain.t_min, domain.t_max)
            composed = compose_heterogeneous([_discretize(truncated, domain)], [steps])
            _, _, eps_upper = composed.compute_epsilon(delta, delta_error, eps_error)
        return float(eps_upper)

    def __repr__(self) -> str:
        return f"PRVAccountant(rel_eps_error={self.rel_eps_error:g})"


def _fast_even_size(n: int) -> int:
    """The smallest even n' >= n whose only prime factors are 2, 3 and 5 (a fast FFT length)."""
    from scipy.fft import next_fast_len

    n = next_fast_len(n, real=True)
    while n % 2:
        n = next_fast_len(n + 1, real=True)
    return n


def _discretize(prv: TruncatedPrivacyRandomVariable, domain: Domain) -> DiscretePRV:
    """Opacus's ``discretize``, with one CDF pass over the size + 1 cell edges instead of two
    over the size cells (the CDF is most of PRV's cost): each grid point gets the probability of
    its cell, and the grid is shifted so that the discrete mean equals the continuous one."""
    import numpy as np
    from opacus.accountants.analysis.prv import DiscretePRV

    half = domain.dt / 2
    edges = np.linspace(domain.t_min - half, domain.t_max + half, domain.size + 1)
    pmf = np.diff(prv.cdf(edges))
    mean_shift = prv.mean() - float(np.dot(domain.ts, pmf))
    if abs(mean_shift) >= half:
        raise RuntimeError("Discrete mean differs significantly from continuous mean.")
    return DiscretePRV(pmf=pmf, domain=domain.shift_right(mean_shift))
