"""DP-FedAvg: clipping bounds every client, the noise has the promised scale, the recorded
epsilon is the privacy module's, adaptive clipping finds its quantile, and runs reproduce."""

from __future__ import annotations

import math
from importlib.util import find_spec

import pytest
import torch

from vega_lab.errors import FederatedError, PrivacyError, UnknownNameError, VegaError
from vega_lab.federated import simulate
from vega_lab.federated.strategies import ClientUpdates, get_strategy
from vega_lab.federated.strategies.dp_fedavg import DPFedAvg
from vega_lab.federated.strategies.dp_mechanism import adaptive_noise
from vega_lab.privacy import epsilon as privacy_epsilon
from vega_lab.privacy import noise_multiplier_for

RUN = dict(dataset="digits", num_clients=10, rounds=3, lr=0.3, seed=2)


def _updates(deltas: torch.Tensor) -> ClientUpdates:
    c = deltas.shape[0]
    return ClientUpdates(deltas, torch.ones(c), torch.ones(c))


def _planned(m: int, num_clients: int = 100, seed: int = 0, **options) -> DPFedAvg:
    dp = DPFedAvg(**options)
    dp.plan_run(num_clients=num_clients, per_round=m, rounds=10, seed=seed)
    return dp


def test_clipping_bounds_what_one_client_can_do_to_the_average() -> None:
    m, c, n = 5, 0.7, 50
    dp = _planned(m, clip_norm=c, noise_multiplier=1.0)
    g = torch.Generator().manual_seed(0)
    honest = 0.05 * torch.randn(m - 1, n, generator=g)
    params = torch.randn(n, generator=g)
    state = dp.init_state(params, 100)
    absent, _ = dp.aggregate(params, _updates(torch.cat([honest, torch.zeros(1, n)])), state)
    for outlier in (1e6 * torch.randn(1, n, generator=g), -1e3 * torch.ones(1, n)):
        present, _ = dp.aggregate(params, _updates(torch.cat([honest, outlier])), state)
        # the same state draws the same noise, so the difference is the client's own effect
        moved = (present - absent).norm().item()
        assert moved == pytest.approx(c / m, rel=1e-5)  # exactly C / m: clipped to norm C
    small = 0.01 * torch.ones(1, n)  # a client inside the bound is not clipped
    present, _ = dp.aggregate(params, _updates(torch.cat([honest, small])), state)
    assert (present - absent).norm().item() == pytest.approx(small.norm().item() / m, rel=1e-4)


def test_a_dropout_does_not_shrink_the_denominator() -> None:
    """Averaging over the m sampled clients, not the ones that reported, keeps the bound C/m."""
    dp = _planned(4, clip_norm=1.0, noise_multiplier=0.0)
    deltas = torch.eye(3, 6)  # three unit updates report, one sampled client dropped
    out, _ = dp.aggregate(torch.zeros(6), _updates(deltas), dp.init_state(torch.zeros(6), 100))
    torch.testing.assert_close(out, deltas.sum(0) / 4)


@pytest.mark.parametrize("clipping", ["fixed", "adaptive"])
def test_noise_std_is_z_times_c_over_m(clipping: str) -> None:
    m, c, z, n = 10, 0.7, 1.3, 200_000
    dp = _planned(m, clip_norm=c, noise_multiplier=z, clipping=clipping)
    params = torch.zeros(n)
    out, _ = dp.aggregate(params, _updates(torch.zeros(m, n)), dp.init_state(params, 100))
    z_updates = z if clipping == "fixed" else adaptive_noise(z, max(m / 20, z))
    expected = z_updates * c / m
    # the sample std of n normals is within 1 % of sigma with overwhelming odds (6 sd: 0.35 %)
    assert out.std().item() == pytest.approx(expected, rel=0.01)
    assert abs(out.mean().item()) < 5 * expected / math.sqrt(n)
    if clipping == "adaptive":  # the count's noise takes some budget: more update noise than z
        assert z_updates > z


def test_noise_comes_from_the_state_not_the_global_generator() -> None:
    dp = _planned(3, noise_multiplier=1.0)
    params, upd = torch.zeros(20), _updates(torch.randn(3, 20))
    state = dp.init_state(params, 100)
    torch.manual_seed(1)
    a, s1 = dp.aggregate(params, upd, state)
    torch.manual_seed(2)
    b, _ = dp.aggregate(params, upd, state)
    assert torch.equal(a, b)
    c, _ = dp.aggregate(params, upd, s1)  # the next step draws fresh noise
    assert not torch.equal(a, c)
    other = _planned(3, seed=1, noise_multiplier=1.0)  # and another seed other noise
    d, _ = other.aggregate(params, upd, other.init_state(params, 100))
    assert not torch.equal(a, d)


@pytest.mark.parametrize("fraction", [0.3, 1.0])
def test_recorded_epsilon_is_the_privacy_modules_for_q_z_and_rounds(fraction: float) -> None:
    z = 1.1
    res = simulate(
        strategy="dp_fedavg",
        strategy_options={"noise_multiplier": z},
        fraction=fraction,
        **RUN,
    )
    frame = res.frame()
    assert "epsilon" in frame.columns
    q = math.ceil(fraction * 10) / 10
    for r in range(3):
        want = privacy_epsilon(q, z, steps=r + 1, delta=1e-5)
        assert frame["epsilon"][r] == pytest.approx(want, rel=1e-9)
    assert frame["epsilon"].is_monotonic_increasing


def test_target_epsilon_picks_the_noise_for_the_planned_rounds() -> None:
    res = simulate(
        strategy="dp_fedavg",
        strategy_options={"target_epsilon": 4.0, "delta": 1e-4},
        fraction=0.5,
        **RUN,
    )
    z = noise_multiplier_for(4.0, 0.5, steps=3, delta=1e-4)
    assert res.frame()["epsilon"].iloc[-1] == pytest.approx(
        privacy_epsilon(0.5, z, steps=3, delta=1e-4)
    )
    assert 3.9 < res.frame()["epsilon"].iloc[-1] <= 4.0


def test_a_run_without_dp_records_no_guarantee() -> None:
    res = simulate(strategy="fedavg", **{**RUN, "rounds": 1})
    assert res.frame()["epsilon"].tolist() == [math.inf]


@pytest.mark.parametrize("quantile", [0.5, 0.8])
def test_adaptive_clipping_converges_to_the_target_quantile(quantile: float) -> None:
    """Update norms are log-normal around 2.0; starting at C = 0.1 (Andrew et al.'s default),
    the noisy geometric update settles on their gamma-quantile."""
    m, n = 100, 8
    dp = _planned(m, num_clients=1000, clip_norm=0.1, noise_multiplier=1.0, clipping="adaptive")
    dp.target_quantile = quantile
    g = torch.Generator().manual_seed(3)
    params = torch.zeros(n)
    state = dp.init_state(params, 1000)
    clips, unclipped = [], []
    for _ in range(300):
        norms = 2.0 * torch.exp(0.5 * torch.randn(m, generator=g))
        direction = torch.nn.functional.normalize(torch.randn(m, n, generator=g), dim=1)
        clip = float(state["dp_clip"])
        unclipped.append(float((norms <= clip).float().mean()))
        params, state = dp.aggregate(params, _updates(direction * norms[:, None]), state)
        clips.append(clip)
    true_quantile = 2.0 * math.exp(
        0.5 * torch.distributions.Normal(0, 1).icdf(torch.tensor(quantile)).item()
    )
    settled = sum(clips[-100:]) / 100
    assert settled == pytest.approx(true_quantile, rel=0.1)
    assert sum(unclipped[-100:]) / 100 == pytest.approx(quantile, abs=0.05)
    assert clips[0] == 0.1 and clips[30] > 1.0  # it climbed out of the tiny start


def test_one_seed_one_run() -> None:
    opts = {"noise_multiplier": 0.8, "clipping": "adaptive"}
    a = simulate(strategy="dp_fedavg", strategy_options=opts, **RUN)
    b = simulate(strategy="dp_fedavg", strategy_options=opts, **RUN)
    assert torch.equal(a.params, b.params)
    assert all(torch.equal(a.state[k], b.state[k]) for k in a.state)
    assert a.frame()["epsilon"].tolist() == b.frame()["epsilon"].tolist()


HARD = dict(  # partial participation, dropouts and partial stragglers, as test_engines
    num_clients=5,
    rounds=2,
    batch_size=16,
    partition="dirichlet",
    alpha=0.3,
    fraction=0.7,
    dropout=0.2,
    stragglers=0.4,
    straggler_policy="partial",
    seed=5,
)


@pytest.mark.parametrize(
    "options",
    [
        {"clipping": "adaptive", "clip_norm": 0.1, "noise_multiplier": 0.5},
        {"dp_mode": "local", "noise_multiplier": 0.05},
        {"target_epsilon": 8.0, "server_momentum": 0.9, "accountant": "rdp"},
    ],
    ids=["adaptive", "local", "target-momentum"],
)
def test_vectorized_matches_sequential_with_dp(options: dict) -> None:
    vec = simulate(engine="vectorized", strategy="dp_fedavg", strategy_options=options, **HARD)
    seq = simulate(engine="sequential", strategy="dp_fedavg", strategy_options=options, **HARD)
    torch.testing.assert_close(vec.params, seq.params, rtol=1e-4, atol=1e-5)
    for k in vec.state:
        torch.testing.assert_close(vec.state[k], seq.state[k], rtol=1e-4, atol=1e-5)
    assert vec.frame()["epsilon"].tolist() == seq.frame()["epsilon"].tolist()


def test_local_dp_clips_and_noises_each_client_on_its_own() -> None:
    c, z, n = 0.5, 2.0, 40_000
    dp = DPFedAvg(clip_norm=c, noise_multiplier=z, dp_mode="local")
    state = dp.init_state(torch.zeros(n), 10)
    big = 100 * torch.ones(2, n)
    sent, state = dp.uplink(big, torch.tensor([3, 5]), state)
    alone, _ = dp.uplink(big[1:], torch.tensor([5]), dp.init_state(torch.zeros(n), 10))
    assert torch.equal(sent[1], alone[0])  # a client's noise does not depend on who else sent
    signal = big[0] * (c / big[0].norm())
    assert (sent[0] - signal).std().item() == pytest.approx(z * c, rel=0.02)
    assert state["dp_uses"].tolist() == [0, 0, 0, 1, 0, 1, 0, 0, 0, 0]
    quiet = DPFedAvg(clip_norm=c, noise_multiplier=0.0, dp_mode="local")
    clipped, _ = quiet.uplink(big, torch.tensor([0, 1]), quiet.init_state(torch.zeros(n), 2))
    assert clipped.norm(dim=1).max().item() == pytest.approx(c, rel=1e-4)  # float32 sums


def test_local_dp_epsilon_is_per_client_and_the_record_is_the_worst() -> None:
    z = 4.0
    res = simulate(
        strategy="dp_fedavg",
        strategy_options={"dp_mode": "local", "noise_multiplier": z},
        fraction=0.5,
        **{**RUN, "rounds": 4},
    )
    dp = get_strategy("dp_fedavg", dp_mode="local", noise_multiplier=z)
    uses = res.state["dp_uses"].tolist()
    assert sum(uses) == 4 * 5  # five clients a round, all reported
    per_client = dp.client_epsilons(res.state)
    for k, eps in zip(uses, per_client, strict=True):
        # no sampling amplification; replace-one adjacency: sensitivity 2C, so multiplier z / 2
        want = 0.0 if k == 0 else privacy_epsilon(1.0, z / 2, steps=k, delta=1e-5)
        assert eps == pytest.approx(want)
    assert res.frame()["epsilon"].iloc[-1] == pytest.approx(max(per_client))


def test_any_mean_strategy_can_be_wrapped() -> None:
    dp = DPFedAvg(noise_multiplier=0.5, inner=get_strategy("fedadam"))
    params = torch.zeros(5)
    state = dp.init_state(params, 10)
    assert {"m", "v", "dp_step", "dp_clip"} <= set(state)
    out, new = dp.aggregate(params, _updates(torch.randn(3, 5)), state)
    assert not torch.equal(out, params) and not torch.equal(new["m"], state["m"])
    with pytest.raises(FederatedError, match="cannot wrap 'fednova'"):
        DPFedAvg(inner=get_strategy("fednova"))
    scaffold = DPFedAvg(inner=get_strategy("scaffold"))
    upd = ClientUpdates(torch.ones(2, 5), torch.ones(2), torch.ones(2), {"c": torch.ones(2, 5)})
    with pytest.raises(FederatedError, match="cannot protect the extra uplink"):
        scaffold.aggregate(params, upd, scaffold.init_state(params, 10))


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"clip_norm": 0.0}, PrivacyError, "clip_norm must be a number > 0"),
        ({"clip_norm": -1.0}, PrivacyError, "clip_norm must be a number > 0"),
        ({"noise_multiplier": -0.1}, PrivacyError, "noise_multiplier must be a finite number"),
        ({"delta": 0.0}, PrivacyError, r"delta must lie in \(0, 1\)"),
        ({"delta": 1.0}, PrivacyError, r"delta must lie in \(0, 1\)"),
        ({"target_epsilon": 0.0}, PrivacyError, "target_epsilon must be a number > 0"),
        ({"target_epsilon": 1.0, "noise_multiplier": 1.0}, PrivacyError, "not both"),
        ({"dp_mode": "global"}, UnknownNameError, "unknown dp mode 'global'"),
        ({"clipping": "adaptiv"}, UnknownNameError, "did you mean 'adaptive'"),
        ({"dp_mode": "local", "clipping": "adaptive"}, FederatedError, "central DP only"),
        ({"target_quantile": 1.5}, PrivacyError, "target_quantile"),
        ({"accountant": "moments"}, UnknownNameError, "unknown accountant"),
    ],
)
def test_bad_options_are_clear_errors(options: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        simulate(strategy="dp_fedavg", strategy_options=options, **{**RUN, "rounds": 1})


def test_an_unreachable_target_and_a_starved_count_are_clear_errors() -> None:
    with pytest.raises(PrivacyError, match="target epsilon 1e-05 is unreachable") as info:
        simulate(
            strategy="dp_fedavg",
            strategy_options={"target_epsilon": 1e-5},
            **{**RUN, "rounds": 1},
        )
    assert isinstance(info.value, VegaError) and "raise target_epsilon" in str(info.value)
    dp = _planned(10, noise_multiplier=2.0, clipping="adaptive", count_noise=0.5)
    with pytest.raises(PrivacyError, match=r"clipped-count noise 0\.5 is too small"):
        dp.aggregate(
            torch.zeros(3), _updates(torch.ones(10, 3)), dp.init_state(torch.zeros(3), 100)
        )


def test_the_sweep_validates_against_its_notebook() -> None:
    from tests.conftest import REPO
    from vega_lab.experiments.parameters import check_parameters, declared_parameters
    from vega_lab.experiments.spec import load_spec

    spec, notebook = load_spec(REPO / "experiments" / "sweeps" / "dp_fedavg.yaml")
    assert notebook == (REPO / "experiments" / "dp_fedavg.ipynb").resolve()
    declared = declared_parameters(notebook)
    runs = spec.expand()
    assert len(runs) == 2 * 3
    for params, seed in runs:
        check_parameters(notebook, {**params, "seed": seed}, declared)
        assert params["epsilons"] == [1.0, 4.0, 8.0] and params["num_clients"] == 100


@pytest.mark.slow
@pytest.mark.skipif(find_spec("flwr") is None or find_spec("ray") is None, reason="needs flwr")
def test_flower_draws_the_same_noise_and_spends_the_same_epsilon(workspace) -> None:
    opts = {"noise_multiplier": 0.5, "clipping": "adaptive", "clip_norm": 0.5, "accountant": "rdp"}
    cfg = dict(dataset="digits", num_clients=4, rounds=2, fraction=0.75, lr=0.3, seed=0)
    flower = simulate(engine="flower", strategy="dp_fedavg", strategy_options=opts, **cfg)
    vectorized = simulate(engine="vectorized", strategy="dp_fedavg", strategy_options=opts, **cfg)
    torch.testing.assert_close(flower.params, vectorized.params, atol=1e-5, rtol=0)
    assert flower.frame()["epsilon"].tolist() == vectorized.frame()["epsilon"].tolist()
    assert all(torch.equal(flower.state[k], vectorized.state[k]) for k in ("dp_step", "dp_z"))
    torch.testing.assert_close(flower.state["dp_clip"], vectorized.state["dp_clip"])
