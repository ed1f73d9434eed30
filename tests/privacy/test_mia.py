"""Membership inference: score functions, LiRA's Gaussian fits, the façade end to end on a tiny
pool (overfit target: attackable; heavy DP noise: chance), ROC sanity and the benchmark CLI."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from vega_lab.errors import AuditError, UnknownNameError
from vega_lab.privacy.audit.batched import DPSGD, MLPShape, init_params
from vega_lab.privacy.audit.lira import lira_offline, lira_online
from vega_lab.privacy.audit.mia import (
    confidence_scores,
    logit_scores,
    loss_attack,
    loss_scores,
    membership_inference,
)
from vega_lab.privacy.audit.roc import summarize

# Tiny but attackable: a 100-example pool, the target trains on ~50 of them for ~40 epochs.
TINY = dict(n_pool=100, shadows=16, hidden=(32,), steps=200, lr=0.5, sample_rate=0.2, seed=0)
ALL = ("loss", "confidence", "lira-offline", "lira-online")


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These models are tiny: on a shared 2-core machine OpenMP's second thread only waits for
    its core (10x slower, measured), so run them on one thread and restore the setting."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def overfit():
    return membership_inference(attacks=ALL, **TINY)


def test_score_functions_agree_and_have_model_by_example_shape() -> None:
    shape = MLPShape((64, 16, 10))
    theta = init_params(shape, 3, seed=0, same_init=False) * 4
    x, y = torch.rand(20, 64), torch.randint(0, 10, (20,))
    loss, conf, phi = (
        f(shape, theta, x, y) for f in (loss_scores, confidence_scores, logit_scores)
    )
    assert loss.shape == conf.shape == phi.shape == (3, 20)
    rows = []
    for m in range(3):
        (w1, b1), (w2, b2) = [(w[m], b[m]) for w, b in shape.layers(theta)]
        rows.append(torch.relu(x @ w1.T + b1) @ w2.T + b2)
    logits = torch.stack(rows)
    ce = torch.nn.functional.cross_entropy(
        logits.transpose(1, 2), y.expand(3, -1), reduction="none"
    )
    torch.testing.assert_close(loss, -ce, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(conf, (-ce).exp(), rtol=1e-5, atol=1e-6)
    p = conf.double()
    torch.testing.assert_close(phi.double(), p.log() - (1 - p).log(), rtol=1e-4, atol=1e-4)
    assert loss_attack(shape, theta[0], x, y).shape == (20,)


def test_logit_scaled_confidence_is_finite_when_the_model_is_certain() -> None:
    shape = MLPShape((2, 3))  # a linear model: logits = W x + b
    theta = torch.tensor([[200.0, 0, 0, 0, -200.0, 0, 0, 0, 0]])
    x, y = torch.tensor([[1.0, 0.0]]), torch.tensor([0])
    phi = logit_scores(shape, theta, x, y)
    assert torch.isfinite(phi).all() and phi.item() == pytest.approx(200.0, abs=1e-3)
    wrong = logit_scores(shape, theta, x, torch.tensor([1]))
    assert wrong.item() == pytest.approx(-200.0, abs=1e-3)  # p_y ~ e^-200, still exact


def test_lira_on_an_overfit_target_beats_chance_and_the_loss_attack(overfit) -> None:
    r = overfit
    assert r.target_train_acc == 1.0
    for name, s in r.scores.items():
        assert s.shape == (100,) and np.isfinite(s).all(), name
    assert r.summaries["lira-online"].auc > 0.6
    assert r.summaries["lira-offline"].auc > 0.6
    assert r.summaries["loss"].auc > 0.5
    # loss and confidence are one monotone transform apart: the same ROC
    assert r.summaries["loss"].auc == pytest.approx(r.summaries["confidence"].auc)
    assert r.members.sum() + (~r.members).sum() == 100 and r.shadow_members.shape == (16, 100)


def test_heavy_dp_noise_drives_every_attack_to_chance() -> None:
    # sigma = 20: epsilon is tiny, so no attack can do much better than a coin; with 600 pool
    # examples the chance AUC has a standard error of ~0.024, so 0.12 is five of them.
    dp = DPSGD(noise_multiplier=20.0, max_grad_norm=1.0)
    r = membership_inference(
        n_pool=600, shadows=8, hidden=(32,), steps=100, lr=0.5, sample_rate=0.1, dp=dp, seed=3
    )
    for name, s in r.summaries.items():
        assert abs(s.auc - 0.5) < 0.12, (name, s.auc)


def test_same_seed_same_scores_and_other_target_seed_other_members(overfit) -> None:
    again = membership_inference(attacks=ALL, **TINY)
    for name in ALL:
        np.testing.assert_array_equal(again.scores[name], overfit.scores[name])
    other = membership_inference(attacks=("loss",), **(TINY | {"shadows": 0}), target_seed=5)
    assert not np.array_equal(other.members, overfit.members)


def test_roc_frames_and_log_log_chart(overfit) -> None:
    frame = overfit.roc_frames()
    assert set(frame["attack"]) == set(ALL) and frame["fpr"].min() > 0
    spec = overfit.chart().to_dict()
    scales = json.dumps(spec)
    assert scales.count('"type": "log"') >= 2  # both axes
    assert overfit.table().loc["lira-online", "auc"] == overfit.summaries["lira-online"].auc


def test_roc_summary_sanity() -> None:
    rng = np.random.default_rng(0)
    perfect = summarize(rng.normal(10, 1, 2000), rng.normal(0, 1, 2000))
    assert perfect.auc == 1.0 and perfect.tpr_at[0.001] == 1.0 and perfect.tpr_at[0.01] == 1.0
    same = summarize(rng.normal(0, 1, 5000), rng.normal(0, 1, 5000))
    assert abs(same.auc - 0.5) < 0.03 and same.tpr_at[0.001] < 0.02
    ties = summarize(np.zeros(10), np.zeros(10))
    assert ties.auc == 0.5


def test_lira_scores_examples_with_no_in_or_out_shadows() -> None:
    rng = np.random.default_rng(1)
    shadow_in = rng.random((6, 50)) < 0.5
    shadow_in[:, 0] = True  # every shadow trained on example 0: no OUT fit
    shadow_in[:, 1] = False  # none did: no IN fit
    phi = rng.normal(0, 1, (6, 50)) + 3 * shadow_in
    target = rng.normal(0, 1, 50)
    for fixed in (True, False):
        for fn in (lira_online, lira_offline):
            s = fn(target, phi, shadow_in, fixed_variance=fixed)
            assert s.shape == (50,) and np.isfinite(s).all()
    # a member-like observation (IN mean) scores higher than an OUT-like one
    hi = lira_online(np.full(50, 3.0), phi, shadow_in)
    lo = lira_online(np.zeros(50), phi, shadow_in)
    assert (hi > lo).mean() > 0.9
    assert (
        lira_offline(np.full(50, 3.0), phi, shadow_in) > lira_offline(np.zeros(50), phi, shadow_in)
    ).all()


def test_bad_inputs_say_what_to_do() -> None:
    with pytest.raises(UnknownNameError, match="lira-online"):
        membership_inference(attacks=("lira-onlin",), **TINY)
    with pytest.raises(AuditError, match="at least 2 shadow"):
        membership_inference(attacks=("lira-online",), **(TINY | {"shadows": 1}))
    with pytest.raises(AuditError, match="n_pool"):
        membership_inference(**(TINY | {"n_pool": 10**6}))
    with pytest.raises(AuditError, match="at least 2 shadow"):
        lira_online(np.zeros(5), np.zeros((1, 5)), np.ones((1, 5), bool))
    with pytest.raises(AuditError, match="NaN"):
        lira_offline(np.full(5, np.nan), np.zeros((4, 5)), np.ones((4, 5), bool))
    with pytest.raises(UnknownNameError):
        membership_inference(dataset="cifar", **TINY)


def test_bench_shadow_models_cli_prints_both_times_and_a_json_line() -> None:
    from typer.testing import CliRunner

    from vega_lab.cli import app

    args = ["bench", "shadow-models", "--models", "4", "--repeats", "1", "--steps", "5"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    for key in ("models", "batched_s", "sequential_s", "speedup", "batched_acc", "sequential_acc"):
        assert key in out
    assert out["models"] == 4 and out["batched_s"] > 0 and "speedup" in res.output
