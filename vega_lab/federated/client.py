"""One client's round, written plainly: the reference the vectorized engine must match, and the
code a Flower ClientApp (or any real device) runs. Works with any `FlatModel` (torch or Keras)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch

from vega_lab.federated.config import FederatedConfig
from vega_lab.federated.data import ClientData
from vega_lab.federated.model import FlatModel
from vega_lab.federated.schedule import epoch_orders, step_limit, steps_per_epoch
from vega_lab.federated.strategies import State, Strategy

PERSONAL_EPOCH_OFFSET = 1000  # personal-model passes shuffle independently of global passes

Correction = Callable[[torch.Tensor], torch.Tensor | None]


def local_sgd(
    model: FlatModel,
    start: torch.Tensor,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    cid: int,
    config: FederatedConfig,
    rnd: int,
    work: float,
    correction: Correction,
    epoch_offset: int = 0,
) -> tuple[torch.Tensor, int, float]:
    """Mini-batch SGD over the client's data; returns (params, steps taken, mean loss)."""
    n = len(y)
    size = torch.tensor([n])
    full = int(steps_per_epoch(size, config.batch_size)[0]) * config.local_epochs
    limit = int(step_limit(torch.tensor([full]), torch.tensor([work], dtype=torch.float64))[0])
    params, taken, loss_sum = start.clone(), 0, 0.0
    ones = torch.ones(config.batch_size)
    for epoch in range(config.local_epochs):
        order = epoch_orders(size, torch.tensor([cid]), config.seed, rnd, epoch + epoch_offset)[0]
        for lo in range(0, n, config.batch_size):
            if taken >= limit:
                return params, taken, loss_sum / max(taken, 1)
            idx = order[lo : lo + config.batch_size]
            loss, grad = model.loss_and_grad(params, x[idx], y[idx], ones[: len(idx)])
            extra = correction(params)
            if extra is not None:
                grad = grad + extra
            params = params - config.lr * grad
            taken += 1
            loss_sum += float(loss)
    return params, taken, loss_sum / max(taken, 1)


def evaluate_flat(
    model: FlatModel, params: torch.Tensor, x: torch.Tensor, y: torch.Tensor
) -> tuple[float, float]:
    """(mean cross-entropy, accuracy); NaN for an empty set."""
    if len(y) == 0:
        return math.nan, math.nan
    logits = model.logits(params, x)
    loss = torch.nn.functional.cross_entropy(logits, y).item()
    return loss, (logits.argmax(1) == y).float().mean().item()


def train_client(
    model: FlatModel,
    data: ClientData,
    *,
    cid: int,
    config: FederatedConfig,
    strategy: Strategy,
    rnd: int,
    global_params: torch.Tensor,
    broadcast: State,
    client_state: State,
    work: float = 1.0,
) -> tuple[torch.Tensor, int, State, State, dict[str, float]]:
    """(delta, steps, uplink extras, new client state, metrics) for one client and round."""
    x, y = torch.from_numpy(data.x), torch.from_numpy(data.y)
    local, steps, train_loss = local_sgd(
        model,
        global_params,
        x,
        y,
        cid=cid,
        config=config,
        rnd=rnd,
        work=work,
        correction=lambda p: strategy.correction(p, global_params, broadcast, client_state),
    )
    extras, new_state = strategy.client_finish(
        global_params, local, torch.tensor(steps), config.lr, broadcast, client_state
    )
    evaluated = global_params
    if strategy.personal_lambda > 0:
        lam = strategy.personal_lambda
        personal, _, _ = local_sgd(
            model,
            client_state["personal"],
            x,
            y,
            cid=cid,
            config=config,
            rnd=rnd,
            work=work,
            correction=lambda p: lam * (p - global_params),
            epoch_offset=PERSONAL_EPOCH_OFFSET,
        )
        new_state = {**new_state, "personal": personal}
        evaluated = personal
    test_loss, test_acc = evaluate_flat(
        model, evaluated, torch.from_numpy(data.x_test), torch.from_numpy(data.y_test)
    )
    metrics = {"client": float(cid), "train_loss": train_loss, "num_examples": float(len(y))}
    if not np.isnan(test_acc):
        metrics |= {"accuracy": test_acc, "loss": test_loss}
    return local - global_params, steps, extras, new_state, metrics
