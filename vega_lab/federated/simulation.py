"""`simulate`: the one entry point of federated simulation, whatever the engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from vega_lab.datasets.shipped import load_dataset
from vega_lab.federated.client import evaluate_flat
from vega_lab.federated.config import FederatedConfig
from vega_lab.federated.data import FederatedData, build_data
from vega_lab.federated.model import FlatModel, TorchModel
from vega_lab.federated.monitor import RoundMonitor
from vega_lab.federated.result import FederatedResult
from vega_lab.federated.rounds import RoundRecord, run_rounds
from vega_lab.federated.strategies import get_strategy
from vega_lab.models.mlp import mlp


def default_module(config: FederatedConfig) -> torch.nn.Module:
    """The config's MLP (e.g. 64-32-10 on digits), seeded by the config's seed; the one model
    definition the engines, the Flower benchmark and its centralized baseline share."""
    ds = load_dataset(config.dataset)
    return mlp(ds.n_features, list(config.hidden), ds.n_classes, seed=config.seed)


def simulate(
    config: FederatedConfig | None = None,
    *,
    model: FlatModel | torch.nn.Module | None = None,
    on_round: Callable[[RoundRecord], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    **overrides: Any,
) -> FederatedResult:
    """Run a federated simulation.

    ``config`` (or keyword overrides of the defaults) picks data, partition, strategy and engine;
    ``model`` replaces the default MLP (a torch module, or a `KerasModel` for the sequential and
    flower engines). ``on_round`` sees each round's record as it ends; ``should_stop`` returning
    True ends the run after the current round.
    """
    if config is None:
        config = FederatedConfig.make(**overrides)
    elif overrides:
        config = FederatedConfig.make(**{**config.model_dump(), **overrides})
    torch.manual_seed(config.seed)
    data = build_data(config)
    if model is None:
        model = TorchModel(default_module(config))
    elif isinstance(model, torch.nn.Module):
        model = TorchModel(model)
    strategy = get_strategy(config.strategy, **config.strategy_options)
    monitor = _monitor(config, data, model)
    if config.engine == "flower":
        from vega_lab.federated.engines.flower import run_flower

        result = run_flower(
            config, data, model, strategy, on_round=on_round, should_stop=should_stop,
            monitor=monitor,
        )  # fmt: skip
        result.audit = monitor.log
        return result
    if config.engine == "vectorized":
        from vega_lab.federated.engines.vectorized import VectorizedEngine as Engine
    else:
        from vega_lab.federated.engines.sequential import SequentialEngine as Engine
    trainer = Engine(config, data, model, strategy)
    x_test, y_test = data.x_test, data.y_test
    params, state, history, client_metrics, reason = run_rounds(
        config,
        trainer=trainer,
        strategy=strategy,
        spec=model.spec,
        initial=model.initial_params(),
        evaluate=lambda p: evaluate_flat(model, p, x_test, y_test),
        on_round=on_round,
        should_stop=should_stop,
        monitor=monitor,
    )
    stats = [data.statistics(c) for c in range(data.num_clients)]
    return FederatedResult(
        config, history, params, model.spec, state, client_metrics, stats, reason,
        audit=monitor.log,
    )  # fmt: skip


def _monitor(config: FederatedConfig, data: FederatedData, model: FlatModel) -> RoundMonitor:
    """The run's attack, anomaly detection and audit log; the attack's own metric (backdoor
    success) is measured on the server's test set every round."""
    adversary = data.adversary
    metrics = None
    if adversary is not None and adversary.attack.name != "none":
        attack, shape = adversary.attack, data.dataset.image_shape
        x, y = data.x_test, data.y_test
        metrics = lambda p: attack.metrics(model, p, x, y, shape)  # noqa: E731
    return RoundMonitor(
        adversary,
        threshold=config.anomaly_threshold,
        attack_metrics=metrics,
        sees_updates=not config.secure_aggregation,
    )
