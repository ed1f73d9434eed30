"""Byzantine-robust aggregation: each rule's defining property, its refusals, anomaly detection,
the recorded rejection of unusable updates, and the audit log (the conformance suite in
test_strategies.py covers the shared contract)."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from vega_lab.errors import ConfigError, FederatedError
from vega_lab.federated import simulate
from vega_lab.federated.anomaly import detect, robust_z
from vega_lab.federated.audit import AuditLog
from vega_lab.federated.strategies import ClientUpdates, get_strategy

N = 6


def _ups(rows: torch.Tensor, examples: list[float] | None = None) -> ClientUpdates:
    c = rows.shape[0]
    return ClientUpdates(rows, torch.tensor(examples or [1.0] * c), torch.ones(c))


def _cluster(k: int, seed: int = 0, spread: float = 0.1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.ones(k, N) + spread * torch.randn(k, N, generator=g)


def test_krum_picks_the_update_closest_to_its_neighbours() -> None:
    benign = _cluster(5)
    benign[2] = benign.mean(0)  # the centre of the cluster: the smallest neighbour distances
    outliers = torch.full((2, N), 50.0)
    rows = torch.cat([outliers[:1], benign, outliers[1:]])
    krum = get_strategy("krum", f=2)
    torch.testing.assert_close(krum.average(_ups(rows)), benign[2])
    share = krum.contributions(_ups(rows))
    assert share.tolist() == [0, 0, 0, 1, 0, 0, 0]


def test_multikrum_averages_the_m_best_and_never_an_outlier() -> None:
    rows = torch.cat([_cluster(5), torch.full((2, N), -40.0)])
    mk = get_strategy("multikrum", f=2, m=3)
    share = mk.contributions(_ups(rows))
    assert (share[:5] > 0).sum() == 3 and share[5:].sum() == 0
    chosen = share > 0
    torch.testing.assert_close(mk.average(_ups(rows)), rows[chosen].mean(0))
    # m defaults to n - f: every benign update
    torch.testing.assert_close(get_strategy("multikrum", f=2).average(_ups(rows)), rows[:5].mean(0))
    with pytest.raises(FederatedError, match="m=6 exceeds n - f = 5"):
        get_strategy("multikrum", f=2, m=6).average(_ups(rows))


def test_median_ignores_f_outliers_of_huge_magnitude() -> None:
    benign = _cluster(4)
    rows = torch.cat([benign, torch.full((3, N), 1e6)])
    med = get_strategy("median").average(_ups(rows))
    lo, hi = benign.min(0).values, benign.max(0).values
    assert ((med >= lo) & (med <= hi)).all()
    # an even count takes the mean of the two middle values, per coordinate
    two = torch.tensor([[0.0] * N, [1.0] * N, [3.0] * N, [100.0] * N])
    torch.testing.assert_close(get_strategy("median").average(_ups(two)), torch.full((N,), 2.0))


def test_trimmed_mean_removes_the_extremes() -> None:
    col = torch.tensor([1.0, 2.0, 3.0, 4.0, 100.0])
    rows = col[:, None].expand(5, N).clone()
    rows[:, 1] = torch.tensor([-100.0, 2.0, 3.0, 4.0, 5.0])  # extremes in other rows
    out = get_strategy("trimmed_mean", f=1).average(_ups(rows))
    assert out[0].item() == pytest.approx(3.0) and out[1].item() == pytest.approx(3.0)
    share = get_strategy("trimmed_mean", f=1).contributions(_ups(rows))
    torch.testing.assert_close(share.sum(), torch.tensor(1.0))
    assert share[0] < 1 / 5 and share[2] == pytest.approx(1 / 3)  # row 2 is never trimmed
    # beta is a share per side: 0.2 of 5 trims one from each end, like f=1
    torch.testing.assert_close(get_strategy("trimmed_mean", beta=0.2).average(_ups(rows)), out)


def test_norm_bounding_caps_norms() -> None:
    small = torch.zeros(N)
    small[0] = 0.5
    big = torch.zeros(N)
    big[1] = 10.0
    rows = torch.stack([small, big])
    fixed = get_strategy("norm_bounding", max_norm=1.0)
    torch.testing.assert_close(fixed.contributions(_ups(rows)), torch.tensor([0.5, 0.05]))
    out = fixed.average(_ups(rows))
    assert out[0] == pytest.approx(0.25) and out[1] == pytest.approx(0.5)  # mean of clipped
    # unset, the bound is the median norm: a boosted update shrinks to an ordinary one
    rows = torch.cat([_cluster(4), 100 * _cluster(1, seed=1)])
    adaptive = get_strategy("norm_bounding").average(_ups(rows))
    assert adaptive.norm() <= rows[:4].norm(dim=1).max() + 1e-6


def test_bulyan_bounds_every_coordinate_by_the_benign_values() -> None:
    benign = _cluster(6, spread=0.5)
    sneaky = benign.mean(0).clone()
    sneaky[3] = 1e4  # close to the others in every coordinate but one
    rows = torch.cat([benign, sneaky[None]])  # n = 7 >= 4f + 3 with f = 1
    out = get_strategy("bulyan", f=1).average(_ups(rows))
    assert ((out >= benign.min(0).values) & (out <= benign.max(0).values)).all()
    # the plain mean is dragged far off in coordinate 3
    assert get_strategy("fedavg").average(_ups(rows))[3] > 1000


@pytest.mark.parametrize(
    ("name", "options", "n", "need"),
    [
        ("krum", {"f": 2}, 6, r"n > 2f \+ 2"),
        ("multikrum", {"f": 1}, 4, r"n > 2f \+ 2"),
        ("bulyan", {"f": 1}, 6, r"n >= 4f \+ 3"),
        ("median", {"f": 3}, 6, r"n > 2f"),
        ("trimmed_mean", {"f": 3}, 6, r"n > 2k"),
        ("krum", {"byzantine_fraction": 0.4}, 5, r"n > 2f \+ 2"),
    ],
)
def test_a_void_guarantee_is_refused(name: str, options: dict, n: int, need: str) -> None:
    strategy = get_strategy(name, **options)
    with pytest.raises(FederatedError, match=need):
        strategy.aggregate(torch.zeros(N), _ups(_cluster(n)), {})
    assert strategy.min_clients() > n  # and the suite's minimum says so


def test_bad_robust_options_are_clear_errors() -> None:
    with pytest.raises(FederatedError, match="not both"):
        get_strategy("krum", f=1, byzantine_fraction=0.1)
    with pytest.raises(FederatedError, match="non-negative integer"):
        get_strategy("krum", f=1.5)
    with pytest.raises(FederatedError, match="beta must be in"):
        get_strategy("trimmed_mean", beta=0.5)
    with pytest.raises(FederatedError, match="max_norm must be > 0"):
        get_strategy("norm_bounding", max_norm=0.0)
    rows = _cluster(5)
    rows[1, 2] = math.nan
    with pytest.raises(FederatedError, match=r"client rows \[1\] hold NaN"):
        get_strategy("median").average(_ups(rows))


def test_robust_z_and_detection_catch_scaled_updates() -> None:
    rows = torch.cat([_cluster(18, spread=0.3), 30 * _cluster(2, seed=3)])
    found = detect(rows)
    assert found.flagged.nonzero().flatten().tolist() == [18, 19]
    flipped = torch.cat([_cluster(18, spread=0.3), -_cluster(2, seed=3)])
    assert detect(flipped).flagged.nonzero().flatten().tolist() == [18, 19]  # by cosine
    assert not detect(_cluster(20, spread=0.3)).flagged.any()
    assert robust_z(torch.ones(5)).eq(0).all()  # no spread, no outliers


def test_unusable_updates_are_rejected_and_recorded_not_averaged() -> None:
    # infinite Gaussian noise: the malicious clients send Inf/NaN rows
    res = simulate(
        num_clients=6, rounds=2, local_epochs=3, lr=0.3, attack="gaussian",
        attack_options={"std": math.inf}, malicious_fraction=0.34, strategy="fedavg",
    )  # fmt: skip
    bad = res.audit.malicious
    assert len(bad) == 2
    assert torch.isfinite(res.params).all() and res.final_accuracy > 0.5
    for entry, record in zip(res.audit.entries, res.history, strict=True):
        assert sorted(entry.rejected) == bad and record.rejected == 2
        assert all("NaN or Inf" in why for why in entry.rejected.values())
        assert set(entry.selected).isdisjoint(bad)
    frame = res.audit_frame()
    assert frame.loc[frame["rejected"], "contribution"].eq(0).all()


def test_sign_flip_breaks_fedavg_but_not_median_or_krum() -> None:
    cfg = dict(
        num_clients=20, rounds=6, local_epochs=3, lr=0.3, attack="sign_flip",
        malicious_fraction=0.3, seed=1,
    )  # fmt: skip
    fedavg = simulate(strategy="fedavg", **cfg)
    median = simulate(strategy="median", **cfg)
    krum = simulate(strategy="krum", strategy_options={"f": 6}, **cfg)
    clean = simulate(strategy="fedavg", **{**cfg, "attack": "none", "malicious_fraction": 0.0})
    assert clean.final_accuracy > 0.8
    assert fedavg.final_accuracy < 0.3
    assert median.final_accuracy > 0.7 and krum.final_accuracy > 0.6
    # the flipped updates point away from the crowd: detection flags them every round
    for entry in median.audit.entries:
        assert set(entry.malicious) <= set(entry.flagged)
    # Krum aggregated exactly one honest client per round
    for entry in krum.audit.entries:
        assert len(entry.selected) == 1 and entry.selected[0] not in entry.malicious


def test_audit_log_exports_and_reads_back(tmp_path) -> None:
    res = simulate(
        num_clients=8, rounds=2, fraction=0.75, strategy="krum", attack="ipm",
        malicious_fraction=0.25, seed=2,
    )  # fmt: skip
    log = res.audit
    assert [e.round for e in log.entries] == [0, 1]
    assert all(e.aggregator == "krum" and len(e.selected) == 1 for e in log.entries)
    back = AuditLog.read(res.export_audit(tmp_path / "audit.jsonl"))
    assert back == log
    frame = res.audit_frame()
    assert len(frame) == sum(len(e.participants) for e in log.entries)
    read = pd.read_csv(res.export_audit(tmp_path / "audit.csv"), keep_default_na=False)
    pd.testing.assert_frame_equal(read, frame, check_dtype=False)
    with pytest.raises(ConfigError, match=r"\.jsonl"):
        res.export_audit(tmp_path / "audit.txt")
