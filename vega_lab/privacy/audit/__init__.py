"""Privacy auditing: measure the privacy a DP-SGD training really has.

Membership inference (loss threshold, LiRA offline/online over batched shadow models) is
`vega_lab.privacy.audit.mia.membership_inference`. The audit façade is
`run_audit(config | **overrides)`: calibrate the noise to the claimed epsilon with
the accountant, train all audit runs together (batched.py), score the canaries as the chosen
adversary would (trials.py), turn the scores into an epsilon lower bound at the requested
confidence (bounds.py), and return an `AuditReport` with the verdict.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from vega_lab.privacy.audit.bounds import check_trials, one_run_bound, threshold_audit
from vega_lab.privacy.audit.config import AuditConfig
from vega_lab.privacy.audit.report import CONSISTENT, VIOLATION, AuditReport
from vega_lab.privacy.audit.roc import summarize

__all__ = ["CONSISTENT", "VIOLATION", "AuditConfig", "AuditReport", "run_audit"]

# Guess-count fractions tried by the one-run audit; each is tested at (1 - confidence) / len
# (a Bonferroni correction), so choosing the best one keeps the stated confidence.
ONE_RUN_FRACTIONS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)


def calibrate(config: AuditConfig) -> tuple[float, float]:
    """(noise multiplier for the claimed epsilon, the accountant's epsilon at that noise)."""
    from vega_lab.privacy.accounting import epsilon, noise_multiplier_for

    sigma = noise_multiplier_for(
        config.epsilon,
        config.sample_rate,
        steps=config.steps,
        delta=config.delta,
        accountant=config.accountant,
    )
    claimed = epsilon(
        config.sample_rate,
        sigma,
        steps=config.steps,
        delta=config.delta,
        accountant=config.accountant,
    )
    return sigma, claimed


def one_run_epsilon(
    scores: np.ndarray, included: np.ndarray, *, delta: float, confidence: float
) -> float:
    """Steinke et al. 2023: guess the top-k scores IN and the bottom-k OUT; the best k of a
    fixed grid, Bonferroni-corrected."""
    order = np.argsort(scores)
    m = len(scores)
    p_each = (1.0 - confidence) / len(ONE_RUN_FRACTIONS)
    best = 0.0
    for f in ONE_RUN_FRACTIONS:
        k = max(int(f * m) // 2, 1)
        correct = int(included[order[-k:]].sum() + (~included[order[:k]]).sum())
        best = max(best, one_run_bound(m, 2 * k, correct, delta=delta, confidence=1.0 - p_each))
    return best


def _bounds(config: AuditConfig, scores: np.ndarray, included: np.ndarray, independent: bool):
    """Every valid bound for these scores, and the primary one's name."""
    flat_s, flat_in = scores.ravel(), included.ravel()
    bounds = {
        "one-run": one_run_epsilon(
            flat_s, flat_in, delta=config.delta, confidence=config.confidence
        )
    }
    if config.trials == 1:
        return bounds, "one-run"
    # The threshold audit needs independent observations: every canary if they are provably
    # independent, else one canary per run.
    s, inc = (flat_s, flat_in) if independent else (scores[:, 0], included[:, 0])
    for method in ("gdp", "eps-delta"):
        tb = threshold_audit(
            s[inc],
            s[~inc],
            delta=config.delta,
            confidence=config.confidence,
            method=method,
            seed=config.seed,
        )
        bounds[f"multi-run ({method})"] = tb.gdp_eps_lb if method == "gdp" else tb.eps_delta_lb
    return bounds, config.method


def run_audit(
    config: AuditConfig | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    run: Any = None,
    **overrides: Any,
) -> AuditReport:
    """Audit DP-SGD as ``config`` describes; ``progress(done, total)`` follows the training;
    with ``run`` (a vega_lab.experiments Run) the summary and ROC are recorded."""
    config = AuditConfig.make(**{**(config.model_dump() if config else {}), **overrides})
    observations = config.trials * config.canaries
    if config.trials > 1:
        check_trials(
            config.trials, claimed_epsilon=config.epsilon, delta=config.delta,
            confidence=config.confidence,
        )  # fmt: skip
    else:
        _check_one_run_size(config)
    from vega_lab.privacy.audit.trials import run_trials

    sigma, claimed = calibrate(config)
    ts = run_trials(config, sigma, progress=progress)
    bounds, primary = _bounds(config, ts.scores, ts.included, ts.independent)
    s_in, s_out = ts.scores[ts.included], ts.scores[~ts.included]
    report = AuditReport(
        config=config,
        claimed_epsilon=float(claimed),
        noise_multiplier=float(sigma),
        empirical_epsilon_lb=float(bounds[primary]),
        method=primary,
        bounds=bounds,
        attack=summarize(s_in, s_out),
        seconds=ts.seconds,
        observations=observations,
        scores_in=s_in,
        scores_out=s_out,
    )
    if run is not None:
        _record(report, run)
    return report


def _check_one_run_size(config: AuditConfig) -> None:
    from vega_lab.errors import AuditError

    m = config.canaries
    best = one_run_bound(m, m, m, delta=config.delta, confidence=config.confidence)
    if best < 0.1 * config.epsilon:
        raise AuditError(
            f"a one-run audit with {m} canaries cannot certify more than epsilon {best:.3f} "
            f"at {config.confidence:.0%} confidence, even with every guess right",
            "use more canaries (hundreds to thousands) or more trials",
        )


def _record(report: AuditReport, run: Any) -> None:
    from vega_lab.privacy.audit.roc import roc_frame

    d = report.as_dict()
    run.log_final(
        claimed_epsilon=d["claimed_epsilon"],
        empirical_epsilon_lb=d["empirical_epsilon_lb"],
        tightness=d["tightness"],
        auc=d["attack"]["auc"],
        violation=float(report.verdict == VIOLATION),
        noise_multiplier=d["noise_multiplier"],
        audit_seconds=d["seconds"],
    )
    run.log_table("audit_bounds", [{"bound": k, "epsilon": v} for k, v in report.bounds.items()])
    run.log_table("audit_roc", roc_frame(report.scores_in, report.scores_out, "audit", 200))
