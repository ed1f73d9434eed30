"""Secure aggregation inside the federated round loop (``FederatedConfig.secure_aggregation``).

The strategy's server step receives the weighted mean of the participants' deltas computed by
SecAgg+, never a single delta. That works for every strategy whose aggregation is FedAvg's
weighted mean followed by a server update (fedavg, fedavgm, fedprox, fedadam, fedyogi,
fedadagrad, ditto's global model); a rule that needs each client's update (Krum, the median,
FedNova's step weights, DP-FedAvg's per-client clipping) or extra uplink tensors (SCAFFOLD's
control variates) contradicts what secure aggregation hides, and is refused up front.
"""

from __future__ import annotations

import torch

from vega_lab.errors import SecureAggregationError, ShapeMismatchError
from vega_lab.federated.secure.aggregator import SecAggReport, SecureAggregator
from vega_lab.federated.strategies import ClientUpdates, State, Strategy

_OWN = ("weights", "average", "aggregate")
_HINT = "turn secure_aggregation off, or use fedavg, fedavgm, fedprox, fedadam, fedyogi, fedadagrad"


def check_secure_strategy(strategy: Strategy) -> None:
    """Refuse a strategy that aggregates anything but the weighted mean of the deltas."""
    own = [m for m in _OWN if getattr(type(strategy), m) is not getattr(Strategy, m)]
    if own:
        raise SecureAggregationError(
            f"strategy {strategy.name!r} computes its own {own[0]} from each client's update; "
            "secure aggregation reveals only their weighted sum",
            _HINT,
        )


def secure_aggregate(
    strategy: Strategy,
    params: torch.Tensor,
    updates: ClientUpdates,
    state: State,
    *,
    clip: float,
    seed: int | None,
) -> tuple[torch.Tensor, State, SecAggReport]:
    """`Strategy.aggregate` with the weighted mean computed by SecAgg+."""
    check_secure_strategy(strategy)
    if updates.extras:
        raise SecureAggregationError(
            f"strategy {strategy.name!r} sends {sorted(updates.extras)} besides the update, "
            "which secure aggregation does not cover",
            _HINT,
        )
    if updates.deltas.shape[1] != params.shape[0]:
        raise ShapeMismatchError(
            f"client updates have {updates.deltas.shape[1]} parameters, "
            f"the global model has {params.shape[0]}",
            "every client must use the same architecture as the server",
        )
    if len(updates.deltas) < 2:
        raise SecureAggregationError(
            f"a round with {len(updates.deltas)} participant cannot hide its update in a sum",
            "sample more clients per round (fraction) or lower the dropout",
        )
    mean, report = SecureAggregator(clip=clip, seed=seed).mean(updates.deltas, updates.num_examples)
    params, state = strategy.server_update(params, mean.to(params.dtype), updates, state)
    return params, state, report
