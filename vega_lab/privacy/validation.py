"""Range checks shared by accounting, training and auditing: one message per mistake."""

from __future__ import annotations

import math

from vega_lab.errors import PrivacyError


def check_epsilon(epsilon: float, name: str = "epsilon") -> float:
    """epsilon must be a finite number > 0."""
    if not isinstance(epsilon, (int, float)) or not math.isfinite(epsilon) or epsilon <= 0:
        raise PrivacyError(
            f"{name} must be a finite number > 0, got {epsilon!r}",
            "typical DP-SGD targets are 1 to 10; smaller is more private",
        )
    return float(epsilon)


def check_delta(delta: float) -> float:
    """delta must lie strictly inside (0, 1)."""
    if not isinstance(delta, (int, float)) or not (0.0 < delta < 1.0):
        raise PrivacyError(
            f"delta must lie in (0, 1), got {delta!r}",
            "use delta well below 1/n for n training examples, e.g. 1e-5",
        )
    return float(delta)


def check_sample_rate(sample_rate: float) -> float:
    """The Poisson sampling rate q must lie in (0, 1]."""
    if not isinstance(sample_rate, (int, float)) or not (0.0 < sample_rate <= 1.0):
        raise PrivacyError(
            f"sample rate must lie in (0, 1], got {sample_rate!r}",
            "it is the expected batch size divided by the dataset size",
        )
    return float(sample_rate)


def check_noise_multiplier(noise_multiplier: float) -> float:
    """The noise multiplier sigma must be a finite number > 0."""
    if (
        not isinstance(noise_multiplier, (int, float))
        or not math.isfinite(noise_multiplier)
        or noise_multiplier <= 0
    ):
        raise PrivacyError(
            f"noise multiplier must be a finite number > 0, got {noise_multiplier!r}",
            "it is the Gaussian noise std divided by the clipping norm; 0.5 to 5 is typical",
        )
    return float(noise_multiplier)


def check_steps(steps: int) -> int:
    """The number of noisy steps must be a positive integer."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise PrivacyError(
            f"steps must be a positive integer, got {steps!r}",
            "steps = epochs / sample rate for Poisson-sampled DP-SGD",
        )
    return steps


def check_max_grad_norm(max_grad_norm: float) -> float:
    """The clipping norm C must be a finite number > 0."""
    if (
        not isinstance(max_grad_norm, (int, float))
        or not math.isfinite(max_grad_norm)
        or max_grad_norm <= 0
    ):
        raise PrivacyError(
            f"max grad norm must be a finite number > 0, got {max_grad_norm!r}",
            "it is the per-example clipping bound C, often 0.1 to 10",
        )
    return float(max_grad_norm)
