"""Empirical epsilon lower bounds from the outcomes of a distinguishing test.

Three statistics, each a high-confidence *lower* bound on the epsilon of the audited mechanism:

- ``eps_delta_bound``: the assumption-free (epsilon, delta) bound of Jagielski et al. 2020 /
  Nasr et al. 2021. Any (epsilon, delta)-DP mechanism has FPR + e^eps FNR >= 1 - delta (and the
  symmetric pair); Clopper-Pearson upper bounds on the observed FPR and FNR turn that into an
  epsilon the mechanism cannot have. It needs very many trials: with N trials per side it can
  certify at most about log(N)-ish, because the tails of the test must be measured.
- ``gdp_bound``: Nasr et al. 2023 ("Tight auditing of differentially private machine learning",
  section 4): assume the mechanism's trade-off curve has the Gaussian (mu-GDP) shape, which the
  full-batch Gaussian mechanism has exactly and DP-SGD has in the limit (CLT), find the smallest
  mu consistent with the Clopper-Pearson bounds, and convert mu to epsilon at delta. It reaches
  near-tight bounds with thousands of trials, but it is only as valid as that shape assumption.
- ``one_run_bound``: Steinke, Nasr and Jagielski 2023, "Privacy auditing with one (1) training
  run", Theorem 5.2 / Appendix D: m canaries each included with probability 1/2, r guesses of
  which v are right; the largest epsilon whose randomized-response null is rejected at 1 - p.

Threshold choice: choosing the best threshold on the same outcomes the bound is computed on
biases the bound upwards, so `threshold_audit` picks it on a selection split and computes the
bound on the held-out rest (the ``Split`` strategy of jax_privacy's auditing module).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, stats

from vega_lab.errors import AuditError
from vega_lab.privacy.accounting._gaussian import gaussian_delta, gaussian_epsilon
from vega_lab.privacy.validation import check_delta


def check_confidence(confidence: float) -> float:
    if not isinstance(confidence, (int, float)) or not (0.5 <= confidence < 1.0):
        raise AuditError(
            f"confidence must lie in [0.5, 1), got {confidence!r}", "0.95 is the usual choice"
        )
    return float(confidence)


def clopper_pearson_upper(k: int | np.ndarray, n: int, alpha: float) -> np.ndarray:
    """One-sided (1 - alpha) Clopper-Pearson upper bound on a rate seen k times in n trials."""
    k = np.asarray(k, dtype=float)
    return np.where(k >= n, 1.0, stats.beta.ppf(1.0 - alpha, k + 1.0, np.maximum(n - k, 1e-12)))


def gdp_epsilon(mu: float, delta: float) -> float:
    """The epsilon at which mu-GDP has the given delta (the accountant's exact curve)."""
    check_delta(delta)
    return gaussian_epsilon(mu, delta)


def gdp_mu(epsilon: float, delta: float) -> float:
    """The mu whose mu-GDP curve gives exactly (epsilon, delta): the inverse of `gdp_epsilon`."""
    check_delta(delta)
    return float(optimize.brentq(lambda m: gaussian_delta(epsilon, m) - delta, 1e-6, 100.0))


def _eps_from_rates(fpr_u: np.ndarray, fnr_u: np.ndarray, delta: float) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        a = np.log(np.maximum(1.0 - delta - fnr_u, 0.0) / fpr_u)
        b = np.log(np.maximum(1.0 - delta - fpr_u, 0.0) / fnr_u)
    return np.maximum(np.nan_to_num(np.maximum(a, b), nan=0.0, neginf=0.0), 0.0)


def _mu_from_rates(fpr_u: np.ndarray, fnr_u: np.ndarray) -> np.ndarray:
    # mu-GDP's trade-off curve is FNR = Phi(Phi^-1(1 - FPR) - mu); the point (fpr_u, fnr_u)
    # lies on the curve of mu = Phi^-1(1 - fpr_u) - Phi^-1(fnr_u).
    return np.maximum(stats.norm.isf(fpr_u) - stats.norm.ppf(fnr_u), 0.0)


@dataclass(frozen=True)
class ThresholdBound:
    """A distinguishing test's bound: epsilon lower bounds at ``confidence`` and its rates."""

    eps_delta_lb: float  # assumption-free
    gdp_mu_lb: float
    gdp_eps_lb: float  # assumes a Gaussian trade-off curve (Nasr et al. 2023)
    threshold: float
    fpr: float
    fnr: float
    n_in: int
    n_out: int
    confidence: float
    delta: float


def rates_at(scores_in: np.ndarray, scores_out: np.ndarray, threshold: float) -> tuple[int, int]:
    """(false positives, false negatives) of the test 'score >= threshold means IN'."""
    fp = int(np.count_nonzero(scores_out >= threshold))
    fn = int(np.count_nonzero(scores_in < threshold))
    return fp, fn


def bound_at_threshold(
    scores_in: np.ndarray,
    scores_out: np.ndarray,
    threshold: float,
    *,
    delta: float,
    confidence: float = 0.95,
) -> ThresholdBound:
    """Both bounds for one fixed threshold; FPR and FNR each get half of 1 - confidence."""
    check_delta(delta)
    check_confidence(confidence)
    n_in, n_out = len(scores_in), len(scores_out)
    if n_in == 0 or n_out == 0:
        raise AuditError("an audit needs trials both with and without the canary")
    fp, fn = rates_at(scores_in, scores_out, threshold)
    alpha = (1.0 - confidence) / 2.0
    fpr_u = clopper_pearson_upper(fp, n_out, alpha)
    fnr_u = clopper_pearson_upper(fn, n_in, alpha)
    mu = float(_mu_from_rates(fpr_u, fnr_u))
    return ThresholdBound(
        eps_delta_lb=float(_eps_from_rates(fpr_u, fnr_u, delta)),
        gdp_mu_lb=mu,
        gdp_eps_lb=gdp_epsilon(mu, delta) if mu > 0 else 0.0,
        threshold=float(threshold),
        fpr=fp / n_out,
        fnr=fn / n_in,
        n_in=n_in,
        n_out=n_out,
        confidence=confidence,
        delta=delta,
    )


def _best_threshold(
    scores_in: np.ndarray,
    scores_out: np.ndarray,
    *,
    delta: float,
    alpha: float,
    method: str,
    n_in_eval: int,
    n_out_eval: int,
    grid: int = 512,
) -> float:
    """The threshold whose bound *on the held-out split* is predicted to be largest.

    The rates measured on the selection split are scaled to the held-out sizes before the
    Clopper-Pearson correction, and only ``grid`` quantiles are candidates: maximizing the
    raw selection-split bound over every distinct score chases noise into the tails (the
    winner's curse), where the held-out bound is poor."""
    pooled = np.concatenate([scores_in, scores_out])
    # The GDP bound is flat across the body of a Gaussian trade-off curve and only noisy in
    # its tails, so its candidates stay in the body; the (epsilon, delta) bound needs the tails.
    # A coarse grid for GDP: its objective is flat, and fewer candidates mean less noise-chasing.
    lo, hi, grid = (0.1, 0.9, 33) if method == "gdp" else (0.0, 1.0, grid)
    cand = np.unique(np.quantile(pooled, np.linspace(lo, hi, grid)))
    s_in, s_out = np.sort(scores_in), np.sort(scores_out)
    fnr_hat = np.searchsorted(s_in, cand, side="left") / max(len(s_in), 1)
    fpr_hat = (len(s_out) - np.searchsorted(s_out, cand, side="left")) / max(len(s_out), 1)
    fpr_u = clopper_pearson_upper(np.round(fpr_hat * n_out_eval), n_out_eval, alpha)
    fnr_u = clopper_pearson_upper(np.round(fnr_hat * n_in_eval), n_in_eval, alpha)
    if method == "gdp":
        value = _mu_from_rates(fpr_u, fnr_u)
    else:
        value = _eps_from_rates(fpr_u, fnr_u, delta)
    return float(cand[int(np.argmax(value))])


def threshold_audit(
    scores_in: np.ndarray,
    scores_out: np.ndarray,
    *,
    delta: float,
    confidence: float = 0.95,
    method: str = "gdp",
    selection_fraction: float = 0.25,
    seed: int = 0,
) -> ThresholdBound:
    """Pick the threshold on a random ``selection_fraction`` of the trials, bound on the rest."""
    check_delta(delta)
    check_confidence(confidence)
    if method not in ("gdp", "eps-delta"):
        raise AuditError(f"unknown bound method {method!r}", "use 'gdp' or 'eps-delta'")
    scores_in = np.asarray(scores_in, dtype=float)
    scores_out = np.asarray(scores_out, dtype=float)
    rng = np.random.default_rng(seed)
    sel_in = rng.random(len(scores_in)) < selection_fraction
    sel_out = rng.random(len(scores_out)) < selection_fraction
    alpha = (1.0 - confidence) / 2.0
    t = _best_threshold(
        scores_in[sel_in], scores_out[sel_out], delta=delta, alpha=alpha, method=method,
        n_in_eval=int((~sel_in).sum()), n_out_eval=int((~sel_out).sum()),
    )  # fmt: skip
    return bound_at_threshold(
        scores_in[~sel_in], scores_out[~sel_out], t, delta=delta, confidence=confidence
    )


def max_certifiable_epsilon(trials: int, *, delta: float, confidence: float = 0.95) -> float:
    """The assumption-free bound a *perfect* test reaches with ``trials`` (half in, half out,
    half of each held out for the bound): the most an audit of that size can ever show."""
    n = max(trials // 4, 0)
    if n == 0:
        return 0.0
    alpha = (1.0 - confidence) / 2.0
    u = clopper_pearson_upper(0, n, alpha)
    return float(_eps_from_rates(np.asarray(u), np.asarray(u), delta))


def check_trials(trials: int, *, claimed_epsilon: float, delta: float, confidence: float) -> None:
    """Refuse audits too small to say anything: even a perfect test could not bound epsilon
    above a tenth of the claim (the check uses the assumption-free bound)."""
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 4:
        raise AuditError(f"trials must be an integer >= 4, got {trials!r}")
    best = max_certifiable_epsilon(trials, delta=delta, confidence=confidence)
    if best < 0.1 * claimed_epsilon:
        need = 4
        while max_certifiable_epsilon(need, delta=delta, confidence=confidence) < (
            0.1 * claimed_epsilon
        ):
            need *= 2
        raise AuditError(
            f"{trials} trials are too few for {confidence:.0%} confidence: even a perfect "
            f"attack could only certify epsilon >= {best:.3f}",
            f"use at least {need} trials (thousands for a tight audit)",
        )


# --- one-run audit (Steinke, Nasr and Jagielski 2023, Appendix D) ------------------------------


def one_run_p_value(m: int, r: int, v: int, epsilon: float, delta: float) -> float:
    """P[at least v of r guesses right] under an (epsilon, delta)-DP null with m canaries."""
    q = 1.0 / (1.0 + math.exp(-epsilon))  # accuracy of epsilon-DP randomized response
    beta = float(stats.binom.sf(v - 1, r, q))
    if delta == 0 or v == 0:
        return min(beta, 1.0)
    # alpha = max_i P[v > Binomial(r, q) >= v - i] / i  (the delta correction of Theorem 5.2)
    pmf = stats.binom.pmf(np.arange(v - 1, -1, -1), r, q)  # v-1, v-2, ..., 0
    cumulative = np.cumsum(pmf)
    alpha = float(np.max(cumulative / np.arange(1, v + 1)))
    return min(beta + alpha * delta * 2 * m, 1.0)


def one_run_bound(m: int, r: int, v: int, *, delta: float, confidence: float = 0.95) -> float:
    """The largest epsilon rejected at ``confidence`` after v right of r guesses (m canaries)."""
    check_confidence(confidence)
    if not (0 <= v <= r <= m):
        raise AuditError(f"need 0 <= correct ({v}) <= guesses ({r}) <= canaries ({m})")
    p = 1.0 - confidence
    if one_run_p_value(m, r, v, 0.0, delta) >= p:
        return 0.0
    lo, hi = 0.0, 1.0
    while one_run_p_value(m, r, v, hi, delta) < p:
        lo, hi = hi, hi * 2
        if hi > 100:
            return lo
    for _ in range(40):
        mid = (lo + hi) / 2
        if one_run_p_value(m, r, v, mid, delta) < p:
            lo = mid
        else:
            hi = mid
    return lo
