"""`simulate`: the one entry point of federated simulation, whatever the engine."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from vega_lab.datasets.shipped import load_dataset
from vega_lab.federated.client import evaluate_flat
from vega_lab.federated.config import FederatedConfig
from vega_lab.federated.audit import AuditLog
from vega_lab.federated.data import FederatedData, build_data
from vega_lab.federated.model import FlatModel, ParamSpec, TorchModel
from vega_lab.federated.monitor import RoundMonitor
from vega_lab.federated.rounds import RoundRecord, run_rounds
from vega_lab.federated.strategies import State, get_strategy
from vega_lab.models.mlp import mlp


@dataclass
class FederatedResult:
    config: FederatedConfig
    history: list[RoundRecord]
    params: torch.Tensor
    spec: ParamSpec
    state: State
    client_metrics: dict[int, dict[str, float]]
    client_stats: list[dict[str, Any]]
    stop_reason: str
    extra: dict[str, Any] = field(default_factory=dict)
    audit: AuditLog = field(default_factory=AuditLog)  # per round: flagged, rejected, aggregated

    def frame(self) -> pd.DataFrame:
        """One row per round: accuracy, loss, clients, bytes, seconds, ..."""
        return pd.DataFrame([r.as_dict() for r in self.history])

    def clients_frame(self) -> pd.DataFrame:
        """One row per client: its statistics and its last reported metrics."""
        rows = []
        for cid, stats in enumerate(self.client_stats):
            rows.append({"client": cid, **stats, **self.client_metrics.get(cid, {})})
        return pd.DataFrame(rows).assign(client=lambda d: d["client"].astype(int))

    def audit_frame(self) -> pd.DataFrame:
        """The audit log, one row per round and participant: malicious, rejected (and why),
        flagged, its coefficient in the aggregate, update norm and cosine, their z-scores."""
        return self.audit.frame()

    def export_audit(self, path: str | Path) -> Path:
        """Write the audit log: ``.jsonl`` (one object per round; `AuditLog.read` reads it
        back) or ``.csv`` (`audit_frame`)."""
        return self.audit.export(path)

    @property
    def final_accuracy(self) -> float:
        return self.history[-1].accuracy if self.history else float("nan")

    def tensors(self) -> dict[str, torch.Tensor]:
        named = self.spec.unflatten(self.params)
        return {
            **{f"model.{k}": v.contiguous() for k, v in named.items()},
            **{f"state.{k}": v.contiguous() for k, v in self.state.items()},
        }

    def save(self, path: str | Path, *, key: bytes | None = None) -> Path:
        """Global model + strategy state as checksummed (optionally signed) safetensors."""
        from vega_lab.federated.serialization import save

        meta = {
            "config": self.config.model_dump_json(),
            "stop_reason": self.stop_reason,
            "history": json.dumps([r.as_dict() for r in self.history]),
        }
        save(path, self.tensors(), key=key, metadata=meta)
        return Path(path)


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
    return RoundMonitor(adversary, threshold=config.anomaly_threshold, attack_metrics=metrics)
