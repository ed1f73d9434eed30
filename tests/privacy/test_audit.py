"""Audits: the bounds are valid (they exceed the truth no more often than the confidence
allows), an honest DP-SGD passes, a DP-SGD with secretly scaled-down noise is caught, and bad
configurations are refused with a clear error."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vega_lab.errors import AuditError, PrivacyError, UnknownNameError
from vega_lab.privacy.audit import VIOLATION, AuditConfig, run_audit
from vega_lab.privacy.audit.bounds import (
    bound_at_threshold,
    clopper_pearson_upper,
    gdp_epsilon,
    gdp_mu,
    max_certifiable_epsilon,
    one_run_bound,
    threshold_audit,
)

# --- the statistics -----------------------------------------------------------------------------


def test_clopper_pearson_pins() -> None:
    # zero successes: the exact bound is 1 - alpha^(1/n)
    assert float(clopper_pearson_upper(0, 100, 0.025)) == pytest.approx(1 - 0.025 ** (1 / 100))
    # all successes: 1; and the bound always covers the observed rate
    assert float(clopper_pearson_upper(100, 100, 0.025)) == 1.0
    assert float(clopper_pearson_upper(30, 100, 0.025)) > 0.3


def test_gdp_epsilon_matches_dp_accounting_pld() -> None:
    """mu-GDP is the Gaussian mechanism with sigma = 1/mu; Google's PLD accountant agrees."""
    from dp_accounting import GaussianDpEvent
    from dp_accounting.pld import PLDAccountant

    for mu in (0.5, 1.0, 2.0):
        acc = PLDAccountant(value_discretization_interval=1e-4)
        acc.compose(GaussianDpEvent(1.0 / mu))
        assert gdp_epsilon(mu, 1e-5) == pytest.approx(acc.get_epsilon(1e-5), rel=1e-3)
        assert gdp_mu(gdp_epsilon(mu, 1e-5), 1e-5) == pytest.approx(mu, rel=1e-6)


def test_threshold_bounds_are_valid_for_a_known_gaussian_mechanism() -> None:
    """200 audits of an exactly mu-GDP mechanism: each bound may exceed the true epsilon in at
    most ~5% of them (95% confidence); allow binomial slack (P[X >= 21 | 5%] < 0.2%)."""
    mu, delta = 1.0, 1e-5
    truth = gdp_epsilon(mu, delta)
    rng = np.random.default_rng(0)
    over = {"gdp": 0, "eps-delta": 0}
    for i in range(200):
        s_in, s_out = rng.normal(mu, 1, 2000), rng.normal(0, 1, 2000)
        for method in over:
            b = threshold_audit(s_in, s_out, delta=delta, method=method, seed=i)
            over[method] += (b.gdp_eps_lb if method == "gdp" else b.eps_delta_lb) > truth
    assert over["gdp"] <= 20 and over["eps-delta"] <= 20, over


def test_threshold_audit_is_near_tight_with_many_trials() -> None:
    mu, delta = 1.0, 1e-5
    rng = np.random.default_rng(1)
    b = threshold_audit(rng.normal(mu, 1, 20000), rng.normal(0, 1, 20000), delta=delta)
    assert 0.8 * gdp_epsilon(mu, delta) < b.gdp_eps_lb <= gdp_epsilon(mu, delta)
    # a useless test certifies nothing
    flat = bound_at_threshold(np.zeros(100), np.zeros(100), 0.0, delta=delta)
    assert flat.eps_delta_lb == 0.0 and flat.gdp_eps_lb == 0.0


def test_one_run_bound_is_valid_for_randomized_response() -> None:
    """Randomized response with epsilon 1 is exactly 1-DP: guessing from its output must not
    certify more than 1 in more than ~5% of repetitions."""
    eps, m = 1.0, 1000
    p_right = math.exp(eps) / (1 + math.exp(eps))
    rng = np.random.default_rng(0)
    over = sum(
        one_run_bound(m, m, int(rng.binomial(m, p_right)), delta=0.0) > eps for _ in range(200)
    )
    assert over <= 20
    # all guesses right on 1000 canaries certifies a large epsilon, none right certifies 0
    assert one_run_bound(1000, 1000, 1000, delta=1e-5) > 4
    assert one_run_bound(1000, 1000, 0, delta=1e-5) == 0.0


def test_too_few_trials_is_refused() -> None:
    assert max_certifiable_epsilon(8, delta=1e-5) < 0.5
    with pytest.raises(AuditError, match="too few"):
        run_audit(epsilon=4.0, trials=8)
    with pytest.raises(AuditError, match="canaries"):
        run_audit(epsilon=4.0, trials=1, canaries=5)


# --- end to end --------------------------------------------------------------------------------


def test_white_box_audit_of_honest_dp_sgd_is_consistent_and_informative() -> None:
    report = run_audit(epsilon=4.0, trials=3000, seed=1)
    assert report.verdict == "CONSISTENT"
    assert report.claimed_epsilon == pytest.approx(4.0, rel=0.01)
    # honest: below the claim; informative: a good fraction of it at 4000 trials
    assert 0.5 * report.claimed_epsilon < report.empirical_epsilon_lb <= report.claimed_epsilon
    for name, value in report.bounds.items():
        assert 0.0 <= value <= report.claimed_epsilon, name
    assert 0.6 < report.attack.auc < 0.9
    d = report.as_dict()
    for key in ("claimed_epsilon", "empirical_epsilon_lb", "confidence", "verdict"):
        assert key in d
    assert "CONSISTENT" in report.summary()


def test_planted_noise_bug_is_caught() -> None:
    """DP-SGD that adds a tenth of the noise it claims: a DP VIOLATION, even by the
    assumption-free bound."""
    report = run_audit(epsilon=1.0, trials=2000, noise_scale=0.1, seed=2)
    assert report.verdict == VIOLATION
    assert report.bounds["multi-run (eps-delta)"] > report.claimed_epsilon
    assert "DP VIOLATION" in report.summary()


def test_poisson_sampled_white_box_audit_uses_the_mixture_likelihood_ratio() -> None:
    kw = dict(epsilon=2.0, trials=2000, sample_rate=0.2, steps=10, n_train=64)
    honest = run_audit(**kw, seed=3)
    bugged = run_audit(**kw, noise_scale=0.2, seed=3)
    assert honest.verdict == "CONSISTENT" and bugged.verdict == VIOLATION
    assert honest.attack.auc < bugged.attack.auc


def test_black_box_and_one_run_audits_run_and_stay_below_the_claim() -> None:
    bb = run_audit(epsilon=8.0, threat="black-box", trials=600, steps=30, seed=4)
    assert bb.config.canary_kind == "input"
    assert bb.verdict == "CONSISTENT" and 0.0 <= bb.empirical_epsilon_lb <= 8.0
    one = run_audit(epsilon=4.0, trials=1, canaries=2000, hidden=(64,), seed=5)
    assert one.method == "one-run"
    assert one.verdict == "CONSISTENT" and 0.0 < one.empirical_epsilon_lb <= 4.0
    caught = run_audit(epsilon=2.0, trials=1, canaries=2000, hidden=(64,), noise_scale=0.1, seed=5)
    with pytest.raises(AuditError, match="distinct coordinates"):
        run_audit(epsilon=2.0, trials=1, canaries=2000, hidden=(8,))
    assert caught.verdict == VIOLATION


def test_audit_is_reproducible_and_records_to_the_store(workspace) -> None:
    from vega_lab import experiments

    run = experiments.current_run(params={"audit": True}, seed=0)
    a = run_audit(epsilon=2.0, trials=400, seed=7, run=run)
    b = run_audit(epsilon=2.0, trials=400, seed=7)
    assert a.empirical_epsilon_lb == b.empirical_epsilon_lb
    np.testing.assert_array_equal(a.scores_in, b.scores_in)
    finals = run.metrics()
    assert {"claimed_epsilon", "empirical_epsilon_lb", "auc"} <= set(finals["name"])
    assert a.roc_chart().to_dict()["layer"]
    assert a.bound_chart().to_dict()


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"epsilon": 0.0}, PrivacyError),
        ({"epsilon": -1.0}, PrivacyError),
        ({"delta": 1.0}, PrivacyError),
        ({"sample_rate": 1.5}, PrivacyError),
        ({"confidence": 0.3}, AuditError),
        ({"threat": "grey-box"}, AuditError),
        ({"dataset": "cifar"}, UnknownNameError),
        ({"accountant": "moments"}, UnknownNameError),
    ],
)
def test_bad_audit_config(overrides: dict, error: type[Exception]) -> None:
    with pytest.raises(error):
        run_audit(**{"trials": 400, **overrides})


def test_config_round_trips() -> None:
    c = AuditConfig.make(epsilon=1.5, threat="black-box")
    assert AuditConfig.make(**c.model_dump()) == c
    assert c.canary_kind == "input" and c.method == "multi-run (eps-delta)"
    assert AuditConfig.make().method == "multi-run (gdp)"
    assert AuditConfig.make(sample_rate=0.5).primary_bound == "eps-delta"
    assert AuditConfig.make(sample_rate=0.5, bound="gdp").primary_bound == "gdp"


def test_cli_audit_prints_the_verdict_and_a_json_last_line() -> None:
    import json

    from tests.test_cli import cli

    res = cli("privacy", "audit", "--epsilon", "2", "--canaries", "16", "--trials", "300",
              "--noise-scale", "0.1", "--json")  # fmt: skip
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)  # --json: stdout is the document alone, the summary on stderr
    assert {"claimed_epsilon", "empirical_epsilon_lb", "confidence", "verdict"} <= set(out)
    assert out["verdict"] == "DP VIOLATION" and out["confidence"] == 0.95
    assert "DP VIOLATION" in res.stderr
    bad = cli("privacy", "audit", "--epsilon", "2", "--threat", "grey-box")
    assert bad.returncode == 2 and "error:" in bad.stderr
    few = cli("privacy", "audit", "--epsilon", "2", "--trials", "5")
    assert few.returncode == 2 and "too few" in few.stderr
