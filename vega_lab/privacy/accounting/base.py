"""The accountant interface: epsilon for a Poisson-sampled Gaussian run, and its inverse.

Every accountant answers one question: after ``steps`` noisy steps that each sample every
example with probability ``sample_rate`` and add Gaussian noise of ``noise_multiplier`` times
the clipping norm, what epsilon holds at ``delta`` (add-or-remove-one adjacency)? Subclasses
implement only ``_epsilon``; validation, error wrapping and the noise search live here once, so
every accountant validates the same way and inverts the same way.
"""

from __future__ import annotations

import math
import numbers
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import ClassVar

from vega_lab.errors import PrivacyError
from vega_lab.privacy.validation import (
    check_delta,
    check_epsilon,
    check_noise_multiplier,
    check_sample_rate,
    check_steps,
)

#: The noise search brackets inside [MIN_NOISE, MAX_NOISE]: below MIN_NOISE no accountant is
#: numerically meaningful, above MAX_NOISE training would learn nothing.
MIN_NOISE = 1e-2
MAX_NOISE = 1e4


class Accountant(ABC):
    """Epsilon of DP-SGD (Poisson sampling, Gaussian noise) for one accounting method.

    ``upper_bound`` says whether the number is a proven upper bound on epsilon (RDP, PRV) or an
    approximation that can under-report it (GDP's central limit theorem).
    """

    name: ClassVar[str]
    upper_bound: ClassVar[bool] = True

    def epsilon(
        self, sample_rate: float, noise_multiplier: float, steps: int, delta: float
    ) -> float:
        """Epsilon after ``steps`` steps at ``delta``; ``math.inf`` if no finite bound exists."""
        q, sigma, steps, delta = _validated(sample_rate, noise_multiplier, steps, delta)
        return self._checked_epsilon(q, sigma, steps, delta)

    def noise_multiplier(
        self,
        target_epsilon: float,
        sample_rate: float,
        steps: int,
        delta: float,
        *,
        rtol: float = 1e-3,
    ) -> float:
        """The smallest noise multiplier whose epsilon is at most ``target_epsilon``.

        Epsilon falls monotonically as sigma grows, so the search brackets the answer by
        doubling or halving sigma from 1, then narrows the bracket with Brent's method (see
        ``_narrow``): 4-6 evaluations in all, which matters when one PRV evaluation costs
        0.1-0.5 s. The answer is always on the safe side, ``epsilon(answer) <= target_epsilon``,
        and within ``rtol`` of it unless the bracket closes first. If even ``MIN_NOISE`` meets
        the target (tiny sample rates, few steps), ``MIN_NOISE`` is returned; if even
        ``MAX_NOISE`` misses it, ``PrivacyError`` says so.
        """
        target = check_epsilon(target_epsilon, "target epsilon")
        q, _, steps, delta = _validated(sample_rate, 1.0, steps, delta)
        if not 0.0 < rtol < 1.0:
            raise PrivacyError(f"rtol must lie in (0, 1), got {rtol!r}", "1e-3 is the default")

        def eps_at(sigma: float) -> float:
            try:
                return self._checked_epsilon(q, sigma, steps, delta)
            except PrivacyError:  # numerical failures happen only far from any usable sigma
                return math.inf

        lo = hi = 1.0
        eps_lo = eps_hi = eps_at(1.0)
        while eps_hi > target:  # too little noise: double until the target is met
            if hi >= MAX_NOISE:
                raise PrivacyError(
                    f"target epsilon {target:g} is unreachable with the {self.name} accountant: "
                    f"even noise multiplier {MAX_NOISE:g} gives epsilon {eps_hi:.4g} (sample "
                    f"rate {q:g}, {steps} steps, delta {delta:g})",
                    "raise epsilon or delta, or take fewer steps or a smaller sample rate",
                )
            lo, eps_lo = hi, eps_hi
            hi = min(2.0 * hi, MAX_NOISE)
            eps_hi = eps_at(hi)
        while eps_lo <= target:  # enough noise already: halve until the target is missed
            if lo <= MIN_NOISE:
                return lo
            hi, eps_hi = lo, eps_lo
            lo = max(lo / 2.0, MIN_NOISE)
            eps_lo = eps_at(lo)
        return _narrow(eps_at, target, rtol, lo, eps_lo, hi, eps_hi)

    def _checked_epsilon(self, q: float, sigma: float, steps: int, delta: float) -> float:
        """Run ``_epsilon`` and turn a numerical failure deep in the maths into a PrivacyError."""
        try:
            eps = float(self._epsilon(q, sigma, steps, delta))
        except PrivacyError:
            raise
        except (ArithmeticError, ValueError, RuntimeError) as exc:
            raise PrivacyError(
                f"the {self.name} accountant could not compute epsilon for sample rate {q:g}, "
                f"noise {sigma:g}, {steps} steps, delta {delta:g}: {exc}",
                "try another accountant (--accountant rdp is the most robust) or a larger delta",
            ) from exc
        if math.isnan(eps):
            raise PrivacyError(
                f"the {self.name} accountant returned NaN for sample rate {q:g}, noise "
                f"{sigma:g}, {steps} steps, delta {delta:g}",
                "try another accountant (--accountant rdp is the most robust)",
            )
        return max(eps, 0.0)  # conversions can dip below 0 at huge delta; 0 is the truth there

    @abstractmethod
    def _epsilon(
        self, sample_rate: float, noise_multiplier: float, steps: int, delta: float
    ) -> float:
        """The accountant's mathematics; inputs are already validated."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _validated(
    sample_rate: float, noise_multiplier: float, steps: int, delta: float
) -> tuple[float, float, int, float]:
    if isinstance(steps, numbers.Integral) and not isinstance(steps, bool):
        steps = int(steps)  # numpy integers are fine
    return (
        check_sample_rate(sample_rate),
        check_noise_multiplier(noise_multiplier),
        check_steps(steps),
        check_delta(delta),
    )


class _InBand(Exception):
    """Raised inside the root finder to stop it as soon as a safe answer is good enough."""

    def __init__(self, sigma: float) -> None:
        self.sigma = sigma


def _narrow(
    eps_at: Callable[[float], float],
    target: float,
    rtol: float,
    lo: float,
    eps_lo: float,
    hi: float,
    eps_hi: float,
) -> float:
    """Shrink [lo, hi], eps(lo) > target >= eps(hi), to a sigma with eps in the accepted band.

    Brent's method on log(eps) against log(sigma): a bracketing method (never leaves [lo, hi],
    falls back to bisection where interpolation misbehaves, e.g. on PRV's slightly stepped
    curve) that converges in a handful of evaluations on this nearly straight line. It aims at
    the middle of the band [target * (1 - rtol), target] and stops as soon as a point lands in
    it; otherwise the smallest sigma seen that met the target is returned.
    """
    from scipy.optimize import brentq

    if eps_hi >= target * (1.0 - rtol):
        return hi
    safe = [hi]
    aim = math.log(target * (1.0 - rtol / 2))
    known = {math.log(lo): eps_lo, math.log(hi): eps_hi}  # brentq starts by re-asking these

    def gap(x: float) -> float:
        sigma = math.exp(x)
        eps = known[x] if x in known else eps_at(sigma)
        if eps <= target:
            if eps >= target * (1.0 - rtol):
                raise _InBand(sigma)
            safe.append(sigma)
        log_eps = math.log(eps) if eps > 0.0 else -700.0
        return min(max(log_eps, -700.0), 700.0) - aim  # inf-safe for the interpolation

    try:
        brentq(gap, math.log(lo), math.log(hi), xtol=rtol / 20, maxiter=200)
    except _InBand as found:
        return found.sigma
    return min(safe)
