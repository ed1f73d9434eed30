"""The round loop every engine shares (the template method): plan the round, let the engine train
the participants, compress their updates, aggregate, evaluate, record, maybe stop early."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from vega_lab.federated.compression import get_compressor
from vega_lab.federated.config import FederatedConfig
from vega_lab.federated.model import ParamSpec
from vega_lab.federated.monitor import RoundMonitor
from vega_lab.federated.schedule import RoundPlan, plan_round
from vega_lab.federated.strategies import ClientUpdates, State, Strategy


@dataclass(frozen=True)
class RoundJob:
    rnd: int
    params: torch.Tensor  # [n] global model sent to the clients
    broadcast: State
    clients: np.ndarray  # participant ids
    work: torch.Tensor  # [C] share of the local steps each completes
    client_states: State  # [C, n] per key, the participants' saved state


@dataclass(frozen=True)
class RoundOutput:
    updates: ClientUpdates
    client_states: State | None  # [C, n] new state, or None when the clients keep it themselves
    client_metrics: list[dict[str, float]] = field(default_factory=list)
    rejected: dict[int, str] = field(default_factory=dict)  # client -> why its update is unusable


class Trainer(Protocol):
    def train_round(self, job: RoundJob) -> RoundOutput: ...


@dataclass(frozen=True)
class RoundRecord:
    round: int
    accuracy: float
    loss: float
    clients: int
    dropped: int
    train_loss: float
    client_accuracy: float  # mean local-test accuracy of the model each client would use
    bytes_up: int
    bytes_down: int
    seconds: float
    flagged: int = 0  # clients whose update anomaly detection flagged
    rejected: int = 0  # clients whose update was rejected (NaN/Inf, unreadable), not aggregated
    backdoor_success: float = math.nan  # attack="backdoor": triggered test inputs -> target
    epsilon: float = math.inf  # client-level epsilon spent so far (inf: no DP guarantee)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class ClientStates:
    """Per-client strategy state for every client, stacked ``[N, n]`` per key."""

    def __init__(self, strategy: Strategy, params: torch.Tensor, num_clients: int) -> None:
        init = strategy.init_client_state(params)
        self.tensors = {k: v.expand(num_clients, *v.shape).clone() for k, v in init.items()}

    def gather(self, ids: np.ndarray) -> State:
        idx = torch.as_tensor(ids, dtype=torch.int64)
        return {k: v[idx] for k, v in self.tensors.items()}

    def scatter(self, ids: np.ndarray, new: State) -> None:
        idx = torch.as_tensor(ids, dtype=torch.int64)
        for k, v in new.items():
            self.tensors[k][idx] = v


def _dense_bytes(tensors: State) -> int:
    return sum(4 * t.numel() for t in tensors.values())


def run_rounds(
    config: FederatedConfig,
    *,
    trainer: Trainer,
    strategy: Strategy,
    spec: ParamSpec,
    initial: torch.Tensor,
    evaluate: Callable[[torch.Tensor], tuple[float, float]],
    on_round: Callable[[RoundRecord], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    client_state_store: ClientStates | None = None,
    monitor: RoundMonitor | None = None,
) -> tuple[torch.Tensor, State, list[RoundRecord], dict[int, dict[str, float]], str]:
    """Run ``config.rounds`` rounds; returns (params, state, history, last client metrics,
    stop reason). ``monitor`` applies the attack, rejects and flags updates, and keeps the
    audit log."""
    n = spec.size
    monitor = monitor if monitor is not None else RoundMonitor()
    params = initial.clone()
    per_round = len(_plan(config, 0).sampled)
    strategy.plan_run(
        num_clients=config.num_clients, per_round=per_round, rounds=config.rounds, seed=config.seed
    )
    state = strategy.init_state(params, config.num_clients)
    if config.secure_aggregation:  # refuse a rule that needs single updates before training
        from vega_lab.federated.secure.round import check_secure_strategy, secure_aggregate

        check_secure_strategy(strategy)
    store = (
        client_state_store
        if client_state_store is not None
        else (ClientStates(strategy, params, config.num_clients))
    )
    compressor = get_compressor(config.compression, **_compressor_options(config))
    residual: torch.Tensor | None = None
    history: list[RoundRecord] = []
    client_metrics: dict[int, dict[str, float]] = {}
    best_loss, stale, reason = math.inf, 0, "completed"
    for rnd in range(config.rounds):
        if should_stop is not None and should_stop():
            reason = "stopped"
            break
        t0 = time.perf_counter()
        plan = _plan(config, rnd)
        ids = plan.participants
        bcast = strategy.broadcast(state)
        bytes_down = len(plan.sampled) * (4 * n + _dense_bytes(bcast))
        bytes_up, train_loss, client_acc = 0, math.nan, math.nan
        if len(ids):
            job = RoundJob(rnd, params, bcast, ids, torch.as_tensor(plan.work), store.gather(ids))
            out = trainer.train_round(job)
            deltas = monitor.tamper(rnd, ids, out.updates.deltas)  # malicious clients' rows
            idx = torch.as_tensor(ids, dtype=torch.int64)
            old = None if residual is None else residual[idx]
            own, state = strategy.uplink(deltas, idx, state)  # local DP, if any
            sent, new_residual, per_client = compressor.compress(own, old)
            if new_residual is not None:
                if residual is None:
                    residual = torch.zeros(config.num_clients, n)
                residual[idx] = new_residual
            updates = ClientUpdates(
                sent, out.updates.num_examples, out.updates.num_steps, out.updates.extras
            )
            kept = monitor.inspect(rnd, ids, updates, strategy, out.rejected)  # audit entry
            secure = None
            if kept is not None and config.secure_aggregation:  # the server sees only the sum
                params, state, secure = secure_aggregate(
                    strategy, params, kept, state, clip=config.secure_clip, seed=config.seed + rnd
                )
            elif kept is not None:  # else every update was rejected: the model stays
                params, state = strategy.aggregate(params, kept, state)
            if out.client_states is not None:
                store.scatter(ids, out.client_states)
            bytes_up = len(ids) * per_client + _dense_bytes(dict(out.updates.extras))
            if secure is not None:  # the protocol's real traffic replaces the plain upload
                bytes_up, bytes_down = sum(secure.bytes_up), bytes_down + sum(secure.bytes_down)
            for m in out.client_metrics:
                client_metrics[int(m["client"])] = {**m, "round": rnd}
            losses = [m["train_loss"] for m in out.client_metrics if "train_loss" in m]
            train_loss = float(np.mean(losses)) if losses else math.nan
            accs = [m["accuracy"] for m in out.client_metrics if "accuracy" in m]
            client_acc = float(np.mean(accs)) if accs else math.nan
        loss, acc = evaluate(params)
        record = RoundRecord(
            rnd,
            acc,
            loss,
            len(ids),
            len(plan.dropped),
            train_loss,
            client_acc,
            int(bytes_up),
            int(bytes_down),
            time.perf_counter() - t0,
            epsilon=strategy.epsilon(state),
            **monitor.round_fields(rnd, params),
        )
        history.append(record)
        if on_round is not None:
            on_round(record)
        if config.target_accuracy is not None and acc >= config.target_accuracy:
            reason = f"target accuracy {config.target_accuracy} reached"
            break
        if loss < best_loss - config.min_delta:
            best_loss, stale = loss, 0
        else:
            stale += 1
        if config.patience is not None and stale >= config.patience:
            reason = f"no loss improvement for {config.patience} rounds"
            break
    return params, state, history, client_metrics, reason


def _plan(config: FederatedConfig, rnd: int) -> RoundPlan:
    return plan_round(
        num_clients=config.num_clients,
        fraction=config.fraction,
        dropout=config.dropout,
        stragglers=config.stragglers,
        straggler_policy=config.straggler_policy,
        seed=config.seed,
        rnd=rnd,
    )


def _compressor_options(config: FederatedConfig) -> dict[str, float]:
    return {"ratio": config.compression_ratio} if config.compression == "topk" else {}
