"""Conformance suite: every registered strategy honours the aggregation contract."""

from __future__ import annotations

import pytest
import torch

from vega_lab.errors import FederatedError, ShapeMismatchError, UnknownNameError
from vega_lab.federated import serialization
from vega_lab.federated.strategies import STRATEGIES, ClientUpdates, Strategy, get_strategy

N_PARAMS = 7


def _updates(
    deltas: torch.Tensor,
    examples: list[float],
    steps: list[float] | None = None,
    strategy: Strategy | None = None,
) -> ClientUpdates:
    c = deltas.shape[0]
    extras = {}
    if strategy is not None and strategy.name == "scaffold":
        extras = {"control_delta": deltas * 0.5}
    return ClientUpdates(deltas, torch.tensor(examples), torch.tensor(steps or [3.0] * c), extras)


def _state(strategy: Strategy, params: torch.Tensor) -> dict[str, torch.Tensor]:
    state = strategy.init_state(params, num_clients=5)
    # a non-trivial state, as after some rounds
    return {k: (v + 0.3 if k != "num_clients" else v) for k, v in state.items()}


#: Option sets that take another aggregation path than a registered strategy's defaults.
VARIANTS = {
    "dp_fedavg[adaptive]": ("dp_fedavg", {"clipping": "adaptive"}),
    "dp_fedavg[local]": ("dp_fedavg", {"dp_mode": "local"}),
}


@pytest.fixture(params=sorted(STRATEGIES) + sorted(VARIANTS))
def strategy(request: pytest.FixtureRequest) -> Strategy:
    name, options = VARIANTS.get(request.param, (request.param, {}))
    return get_strategy(name, **options)


def test_averaging_identical_updates_returns_them(strategy: Strategy) -> None:
    delta = torch.randn(N_PARAMS, generator=torch.Generator().manual_seed(0))
    if strategy.noisy:  # DP clips: stay inside its default clipping norm C = 1
        delta = 0.5 * delta / delta.norm()
    updates = _updates(delta.expand(4, -1).clone(), [10, 20, 30, 40], [2, 2, 2, 2], strategy)
    torch.testing.assert_close(strategy.average(updates), delta)
    params = torch.randn(N_PARAMS)
    many, _ = strategy.aggregate(params, updates, _state(strategy, params))
    if strategy.noisy:  # its noise shrinks with the client count; one state, one draw
        again, _ = strategy.aggregate(params, updates, _state(strategy, params))
        torch.testing.assert_close(many, again, rtol=0, atol=0)
        return
    k = strategy.min_clients()  # 1, or the fewest a robust rule's guarantee accepts
    few = _updates(delta.expand(k, -1).clone(), [10] * k, [2] * k, strategy)
    one, _ = strategy.aggregate(params, few, _state(strategy, params))
    torch.testing.assert_close(many, one)
    if strategy.averaging:  # with a fresh state the new model is the clients' model
        fresh, _ = strategy.aggregate(params, updates, strategy.init_state(params, 4))
        torch.testing.assert_close(fresh, params + delta)


def test_weights_are_respected(strategy: Strategy) -> None:
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(N_PARAMS, generator=g), torch.randn(N_PARAMS, generator=g)
    params = torch.zeros(N_PARAMS)
    state = _state(strategy, params)
    if not strategy.weighted:  # one client, one vote: claimed example counts change nothing
        rows = torch.randn(max(5, strategy.min_clients()), N_PARAMS, generator=g)
        skewed = strategy.average(_updates(rows, [1000] + [1] * (len(rows) - 1)))
        torch.testing.assert_close(skewed, strategy.average(_updates(rows, [1] * len(rows))))
        return
    # a client with weight 3 counts like three clients with weight 1
    weighted = _updates(torch.stack([a, b]), [3, 1], strategy=strategy)
    duplicated = _updates(torch.stack([a, a, a, b]), [1, 1, 1, 1], strategy=strategy)
    torch.testing.assert_close(strategy.average(weighted), strategy.average(duplicated))
    # a client with no examples does not move the average
    ignored = _updates(torch.stack([a, b]), [5, 0], strategy=strategy)
    torch.testing.assert_close(strategy.average(ignored), a)
    heavier_b = strategy.average(_updates(torch.stack([a, b]), [1, 9], strategy=strategy))
    assert (heavier_b - b).norm() < (heavier_b - a).norm()
    strategy.aggregate(params, weighted, state)  # runs with unequal weights


def test_state_round_trips_through_safetensors(strategy: Strategy) -> None:
    params = torch.randn(N_PARAMS)
    state = _state(strategy, params)
    upd = _updates(torch.randn(3, N_PARAMS), [1, 2, 3], strategy=strategy)
    p1, s1 = strategy.aggregate(params, upd, state)
    restored = serialization.loads(serialization.dumps(s1)) if s1 else {}
    assert set(restored) == set(s1)
    p2a, s2a = strategy.aggregate(p1, upd, s1)
    p2b, s2b = strategy.aggregate(p1, upd, restored)
    torch.testing.assert_close(p2a, p2b, rtol=0, atol=0)
    for k in s2a:
        torch.testing.assert_close(s2a[k], s2b[k], rtol=0, atol=0)


def test_aggregate_does_not_mutate_inputs(strategy: Strategy) -> None:
    params = torch.randn(N_PARAMS)
    state = _state(strategy, params)
    upd = _updates(torch.randn(3, N_PARAMS), [1, 2, 3], strategy=strategy)
    before = (
        params.clone(),
        {k: v.clone() for k, v in state.items()},
        upd.deltas.clone(),
        {k: v.clone() for k, v in upd.extras.items()},
    )
    new_params, _ = strategy.aggregate(params, upd, state)
    assert torch.equal(params, before[0]) and torch.equal(upd.deltas, before[2])
    assert all(torch.equal(state[k], before[1][k]) for k in state)
    assert all(torch.equal(upd.extras[k], before[3][k]) for k in upd.extras)
    assert new_params.data_ptr() != params.data_ptr()


def test_client_hooks_are_shape_polymorphic(strategy: Strategy) -> None:
    """The same hook serves one client ([n]) and stacked clients ([C, n])."""
    g = torch.randn(N_PARAMS)
    state = strategy.init_state(g, 5)
    bcast = strategy.broadcast(state)
    one = strategy.init_client_state(g)
    stacked = {k: v.expand(3, -1).clone() for k, v in one.items()}
    local = g + torch.randn(3, N_PARAMS)
    corr = strategy.correction(local, g, bcast, stacked)
    extras, new = strategy.client_finish(g, local, torch.tensor([2, 3, 4]), 0.1, bcast, stacked)
    for i in range(3):
        c1 = strategy.correction(local[i], g, bcast, {k: v[i] for k, v in stacked.items()})
        e1, n1 = strategy.client_finish(
            g, local[i], torch.tensor(2 + i), 0.1, bcast, {k: v[i] for k, v in stacked.items()}
        )
        if corr is not None:
            torch.testing.assert_close(corr[i], c1)
        for k in extras:
            torch.testing.assert_close(extras[k][i], e1[k])
        for k in new:
            torch.testing.assert_close(new[k][i], n1[k])


def test_fednova_normalises_by_local_steps() -> None:
    nova = get_strategy("fednova")
    d = torch.ones(2, N_PARAMS)
    d[1] *= 4.0  # client 1 did 4x the steps, so 4x the movement
    avg = nova.average(_updates(d, [1, 1], [1, 4]))
    # both clients moved one unit per step: tau_eff = 2.5 steps of size 1
    torch.testing.assert_close(avg, torch.full((N_PARAMS,), 2.5))


def test_unknown_strategy_lists_the_valid_ones() -> None:
    with pytest.raises(UnknownNameError, match="fedavg, fedavgm, fednova, fedprox"):
        get_strategy("fedsgd")


def test_bad_strategy_options_are_a_clear_error() -> None:
    with pytest.raises(FederatedError, match="bad options for strategy 'fedprox'"):
        get_strategy("fedprox", momentum=0.9)


def test_mismatched_update_shapes_are_refused() -> None:
    with pytest.raises(ShapeMismatchError, match="3 parameters, the global model has 7"):
        get_strategy("fedavg").aggregate(torch.zeros(7), _updates(torch.zeros(2, 3), [1, 1]), {})
