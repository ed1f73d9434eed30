"""Attacks: each one's definition on the stacked update tensor, the data-poisoning path, seeded
malicious clients, the backdoor metric, and engine agreement under every attack."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vega_lab.errors import FederatedError, UnknownNameError
from vega_lab.federated import FederatedConfig, simulate
from vega_lab.federated.attacks import ATTACKS, Adversary, get_attack, malicious_clients
from vega_lab.federated.attacks.alie import alie_z
from vega_lab.federated.attacks.backdoor import stamp, trigger_columns
from vega_lab.federated.data import build_data

C, N = 10, 12


@pytest.fixture
def stack() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    deltas = 1.0 + torch.randn(C, N, generator=g)
    malicious = torch.zeros(C, dtype=torch.bool)
    malicious[[2, 5, 7]] = True
    return deltas, malicious


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(1)


def test_registry_and_options() -> None:
    assert set(ATTACKS) == {
        "none",
        "label_flip",
        "sign_flip",
        "gaussian",
        "backdoor",
        "alie",
        "ipm",
    }
    with pytest.raises(UnknownNameError, match="did you mean 'alie'"):
        get_attack("alei")
    with pytest.raises(FederatedError, match="bad options for attack 'ipm'"):
        get_attack("ipm", z=1.0)
    with pytest.raises(FederatedError, match="both source and target"):
        get_attack("label_flip", source=1)
    with pytest.raises(FederatedError, match="no attack"):
        Adversary.from_config(FederatedConfig(malicious_fraction=0.2))


def test_malicious_clients_are_seeded_and_counted() -> None:
    a = malicious_clients(100, 0.2, seed=3)
    assert len(a) == 20 and len(set(a.tolist())) == 20 and list(a) == sorted(a)
    assert np.array_equal(a, malicious_clients(100, 0.2, seed=3))
    assert not np.array_equal(a, malicious_clients(100, 0.2, seed=4))
    assert len(malicious_clients(10, 0.0, seed=0)) == 0
    with pytest.raises(FederatedError, match=r"\[0, 1\)"):
        malicious_clients(10, 1.0, seed=0)


def test_sign_flip_is_the_negated_honest_update(stack) -> None:
    deltas, mal = stack
    out = get_attack("sign_flip", scale=1.0).tamper(deltas, mal, _gen())
    torch.testing.assert_close(out[mal], -deltas[mal])
    torch.testing.assert_close(out[~mal], deltas[~mal])
    out4 = get_attack("sign_flip").tamper(deltas, mal, _gen())
    torch.testing.assert_close(out4[mal], -4.0 * deltas[mal])


def test_gaussian_replaces_malicious_rows_with_seeded_noise(stack) -> None:
    deltas, mal = stack
    attack = get_attack("gaussian", std=2.0)
    out = attack.tamper(deltas, mal, _gen())
    torch.testing.assert_close(out[~mal], deltas[~mal])
    assert torch.equal(out, attack.tamper(deltas, mal, _gen()))
    big = attack.tamper(torch.zeros(2000, N), torch.ones(2000, dtype=torch.bool), _gen())
    assert big.std().item() == pytest.approx(2.0, rel=0.05)


def test_alie_stays_within_mean_plus_minus_z_std(stack) -> None:
    deltas, mal = stack
    benign = deltas[~mal]
    mean, std = benign.mean(0), benign.std(0)
    z = alie_z(C, 3)  # s = floor(10/2 + 1) - 3 = 3: z = Phi^-1(0.7)
    assert z == pytest.approx(0.5244, abs=1e-4)
    out = get_attack("alie").tamper(deltas, mal, _gen())
    torch.testing.assert_close(out[mal], (mean - z * std).expand(3, -1))
    assert ((out[mal] >= mean - z * std - 1e-6) & (out[mal] <= mean + z * std + 1e-6)).all()
    torch.testing.assert_close(out[~mal], benign)
    assert alie_z(100, 20) == pytest.approx(0.4959, abs=1e-4)  # the bench's 20 of 100
    fixed = get_attack("alie", z=1.5).tamper(deltas, mal, _gen())
    torch.testing.assert_close(fixed[mal][0], mean - 1.5 * std)


def test_ipm_points_against_the_benign_mean(stack) -> None:
    deltas, mal = stack
    mean = deltas[~mal].mean(0)
    out = get_attack("ipm", epsilon=0.5).tamper(deltas, mal, _gen())
    torch.testing.assert_close(out[mal], (-0.5 * mean).expand(3, -1))
    assert (out[mal] @ mean < 0).all()
    # every malicious row equal: all of them vote for one point
    assert torch.equal(out[2], out[5])


def test_backdoor_scales_by_n_over_eta_m_and_stamps_a_trigger(stack) -> None:
    deltas, mal = stack
    out = get_attack("backdoor").tamper(deltas, mal, _gen())
    torch.testing.assert_close(out[mal], deltas[mal] * C / 3)
    out = get_attack("backdoor", boost=5.0).tamper(deltas, mal, _gen())
    torch.testing.assert_close(out[mal], deltas[mal] * 5)
    assert trigger_columns((8, 8), 2) == [54, 55, 62, 63]
    x = np.zeros((3, 64), dtype=np.float32)
    assert stamp(x, (8, 8), 2)[:, [54, 55, 62, 63]].min() == 1.0 and x.max() == 0
    with pytest.raises(FederatedError, match="trigger_size"):
        trigger_columns((8, 8), 9)


def test_data_poisoning_reaches_only_the_malicious_clients() -> None:
    clean = build_data(FederatedConfig(num_clients=10, seed=4))
    flipped = build_data(
        FederatedConfig(num_clients=10, seed=4, attack="label_flip", malicious_fraction=0.3)
    )
    bad = flipped.adversary.malicious
    assert len(bad) == 3
    for cid in range(10):
        a, b = clean.client(cid), flipped.client(cid)
        assert np.array_equal(a.x, b.x)
        expected = 9 - a.y if cid in bad else a.y
        assert np.array_equal(b.y, expected)
    backdoor = build_data(
        FederatedConfig(
            num_clients=10, seed=4, attack="backdoor", malicious_fraction=0.3,
            attack_options={"target": 7, "poison_fraction": 0.5},
        )
    )  # fmt: skip
    cid = min(backdoor.adversary.malicious)
    a, b = clean.client(cid), backdoor.client(cid)
    stamped = (b.x[:, [54, 55, 62, 63]] == 1.0).all(1)
    assert stamped.sum() == round(0.5 * len(a.y)) and (b.y[stamped] == 7).all()
    assert np.array_equal(b.y[~stamped], a.y[~stamped])


def test_backdoor_succeeds_against_fedavg_and_norm_bounding_weakens_it() -> None:
    cfg = dict(
        num_clients=20, rounds=5, local_epochs=3, lr=0.3, attack="backdoor",
        malicious_fraction=0.2, seed=0,
    )  # fmt: skip
    fedavg = simulate(strategy="fedavg", **cfg)
    bounded = simulate(strategy="norm_bounding", **cfg)
    assert fedavg.history[-1].backdoor_success > 0.8
    assert bounded.history[-1].backdoor_success < fedavg.history[-1].backdoor_success - 0.3
    # the boosted updates stand out by norm in every round
    for entry in fedavg.audit.entries:
        assert set(entry.malicious) <= set(entry.flagged)


@pytest.mark.parametrize(
    ("attack", "strategy", "options"),
    [
        ("label_flip", "trimmed_mean", {"f": 1}),
        ("sign_flip", "median", {}),
        ("gaussian", "krum", {"f": 1}),
        ("backdoor", "norm_bounding", {}),
        ("alie", "multikrum", {"f": 1}),
        ("ipm", "bulyan", {}),
    ],
)
def test_engines_agree_under_attack(attack: str, strategy: str, options: dict) -> None:
    cfg = dict(
        num_clients=6, rounds=2, local_epochs=2, attack=attack, malicious_fraction=0.34,
        strategy=strategy, strategy_options=options, seed=2,
    )  # fmt: skip
    vec = simulate(engine="vectorized", **cfg)
    seq = simulate(engine="sequential", **cfg)
    torch.testing.assert_close(vec.params, seq.params, rtol=1e-4, atol=1e-5)
    assert vec.audit.malicious == seq.audit.malicious and len(vec.audit.malicious) == 2
    for a, b in zip(vec.audit.entries, seq.audit.entries, strict=True):
        assert (a.flagged, a.selected) == (b.flagged, b.selected)
